"""Accepting an offer creates a payment, so it honours `Idempotency-Key` (SPEC §1)."""

from __future__ import annotations

import asyncio

import httpx

from bazaar.kit.db import Database
from tests.fixtures.users import Account
from tests.marketplace.test_requests_support import OFFERS, payments_of, post_offer, post_request


async def _accept(
    client: httpx.AsyncClient, buyer: Account, offer_id: str, key: str, body: dict | None = None
) -> httpx.Response:
    headers = {**buyer.headers, "Idempotency-Key": key}
    body = {"version": 1} if body is None else body
    return await client.post(f"{OFFERS}/{offer_id}/accept", json=body, headers=headers)


async def test_retried_accept_replays_the_first_answer(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])

    first = await _accept(client, buyer, offer["id"], "accept-1")
    assert first.status_code == 200, first.text
    again = await _accept(client, buyer, offer["id"], "accept-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(await payments_of(db, request["id"])) == 1

    # Without the key, accepting again is refused by the state machine.
    plain = await client.post(
        f"{OFFERS}/{offer['id']}/accept", json={"version": 1}, headers=buyer.headers
    )
    assert plain.status_code == 409


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    assert (await _accept(client, buyer, offer["id"], "k-2")).status_code == 200

    reused = await _accept(client, buyer, offer["id"], "k-2", {"version": 2})
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await payments_of(db, request["id"])) == 1


async def test_concurrent_retries_create_one_payment(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])

    responses = await asyncio.gather(
        *(_accept(client, buyer, offer["id"], "double-click") for _ in range(3))
    )

    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert len({r.json()["data"]["payment"]["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 2
    assert len(await payments_of(db, request["id"])) == 1
