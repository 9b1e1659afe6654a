"""Cancel, deliver and the admin's forced transitions over HTTP, with their effects."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.models import Payment, PurchaseRequest
from tests.fixtures.files import Upload
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    REQUESTS,
    accepted_deal,
    fund,
    get_offer,
    get_request,
    history_of,
    iso,
    notified,
    payments_of,
    post_offer,
    post_request,
    update_rows,
)


async def funded_deal(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> tuple[dict[str, Any], dict[str, Any]]:
    request, offer = await accepted_deal(client, buyer, seller)
    await fund(db, request["id"])
    return request, offer


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# -- cancel ----------------------------------------------------------------------------------


async def test_buyer_cancels_an_open_request_and_its_offers(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    r = await client.post(
        f"{REQUESTS}/{request['id']}/cancel", json={"reason": "Found one"}, headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "cancelled"
    assert (await get_offer(db, offer["id"])).status == "cancelled"
    [told] = await notified(db, seller, "request.cancelled")
    assert told["reason"] == "Found one"
    last = (await history_of(db, request["id"]))[-1]
    assert (last.to_status, last.actor_role, last.reason) == ("cancelled", "buyer", "Found one")


async def test_cancelling_an_accepted_request_cancels_offer_and_payment(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, offer = await accepted_deal(client, buyer, seller)
    r = await client.post(f"{REQUESTS}/{request['id']}/cancel", headers=buyer.headers)
    assert r.status_code == 200, r.text
    assert (await get_offer(db, offer["id"])).status == "cancelled"
    [payment] = await payments_of(db, request["id"])
    assert payment.status == "cancelled"
    assert len(await notified(db, seller, "request.cancelled")) == 1


async def test_cancel_refused_once_money_is_arriving(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await accepted_deal(client, buyer, seller)
    [payment] = await payments_of(db, request["id"])
    await update_rows(db, Payment, payment.id, status="confirming")
    r = await client.post(f"{REQUESTS}/{request['id']}/cancel", headers=buyer.headers)
    assert r.status_code == 409 and code(r) == "PAYMENT_IN_PROGRESS"
    assert (await get_request(db, request["id"])).status == "accepted"


async def test_cancel_refused_after_funding(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await funded_deal(client, db, buyer, seller)
    r = await client.post(f"{REQUESTS}/{request['id']}/cancel", headers=buyer.headers)
    assert r.status_code == 409 and code(r) == "INVALID_STATE_TRANSITION"


async def test_who_may_cancel(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request = await post_request(client, buyer)
    await post_offer(client, seller, request["id"])
    url = f"{REQUESTS}/{request['id']}/cancel"
    assert (await client.post(url, headers=seller.headers)).status_code == 403
    assert (await client.post(url)).status_code == 401
    no_reason = await client.post(url, headers=admin.headers)
    assert no_reason.status_code == 400 and code(no_reason) == "VALIDATION_FAILED"
    r = await client.post(url, json={"reason": "Prohibited item"}, headers=admin.headers)
    assert r.status_code == 200
    last = (await history_of(db, request["id"]))[-1]
    assert (last.actor_role, last.reason) == ("admin", "Prohibited item")
    assert len(await notified(db, buyer, "request.cancelled")) == 1
    draft = await post_request(client, buyer, publish=False)
    d_url = f"{REQUESTS}/{draft['id']}/cancel"
    assert (await client.post(d_url, headers=buyer.headers)).status_code == 409


# -- deliver ---------------------------------------------------------------------------------


async def test_seller_delivers_a_funded_request(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    buyer: Account,
    seller: Account,
    upload_file: Upload,
) -> None:
    request, _ = await funded_deal(client, db, buyer, seller)
    proof = await upload_file(seller, "evidence")
    r = await client.post(
        f"{REQUESTS}/{request['id']}/deliver",
        json={"note": "Shipped, tracking LX123", "files": [proof]},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "delivered"
    assert (data["deliveryNote"], data["deliveryFiles"]) == ("Shipped, tracking LX123", [proof])
    delivered_at = iso(data["history"][-1]["createdAt"])
    assert iso(data["inspectionDeadline"]) - delivered_at == settings.inspection_period
    assert len(await notified(db, buyer, "request.delivered")) == 1


async def test_funding_starts_the_delivery_window(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account, seller: Account
) -> None:
    request, _ = await funded_deal(client, db, buyer, seller)
    row = await get_request(db, request["id"])
    funded_at = (await history_of(db, request["id"]))[-1].created_at
    assert row.status == "funded"
    # post_offer offers 5 delivery days.
    assert row.delivery_deadline == funded_at + timedelta(days=5) + settings.delivery_grace


async def test_only_the_accepted_seller_delivers_and_only_when_funded(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    rival = await make_user(["seller"])
    request = await post_request(client, buyer)
    await post_offer(client, rival, request["id"])
    offer = await post_offer(client, seller, request["id"])
    accepted = await client.post(
        f"/api/marketplace/offers/{offer['id']}/accept", json={"version": 1}, headers=buyer.headers
    )
    assert accepted.status_code == 200
    url = f"{REQUESTS}/{request['id']}/deliver"
    body = {"note": "Done"}
    early = await client.post(url, json=body, headers=seller.headers)
    assert early.status_code == 409 and code(early) == "INVALID_STATE_TRANSITION"
    await fund(db, request["id"])
    assert (await client.post(url, json=body, headers=buyer.headers)).status_code == 403
    assert (await client.post(url, json=body, headers=rival.headers)).status_code == 403
    stranger = await make_user(["seller"])
    assert (await client.post(url, json=body, headers=stranger.headers)).status_code == 404
    empty = await client.post(url, json={}, headers=seller.headers)
    assert empty.status_code == 400
    assert (await client.post(url, json=body, headers=seller.headers)).status_code == 200


# -- admin force -----------------------------------------------------------------------------


async def force(
    client: httpx.AsyncClient, who: Account, request_id: str, to: str, reason: str | None = "ops"
) -> httpx.Response:
    body: dict[str, Any] = {"to": to}
    if reason is not None:
        body["reason"] = reason
    return await client.post(
        f"{REQUESTS}/{request_id}/force-transition", json=body, headers=who.headers
    )


async def test_admin_forces_expiry_with_its_effects(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    r = await force(client, admin, request["id"], "expired", "Spam")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "expired"
    assert (await get_offer(db, offer["id"])).status == "expired"
    last = (await history_of(db, request["id"]))[-1]
    assert (last.actor_id, last.actor_role, last.reason) == (admin.id, "admin", "Spam")


async def test_admin_forces_a_draft_open_and_a_funded_request_delivered(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    draft = await post_request(client, buyer, publish=False)
    r = await force(client, admin, draft["id"], "open")
    assert r.status_code == 200 and r.json()["data"]["publishedAt"] is not None
    request, _ = await funded_deal(client, db, buyer, seller)
    r = await force(client, admin, request["id"], "delivered", "Courier confirmed")
    assert r.status_code == 200 and r.json()["data"]["inspectionDeadline"] is not None


async def test_admin_forces_an_accepted_request_back_open(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request, offer = await accepted_deal(client, buyer, seller)
    r = await force(client, admin, request["id"], "open", "Buyer asked support")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["status"], data["acceptedOfferId"], data["lockedPrice"]) == ("open", None, None)
    assert (await get_offer(db, offer["id"])).status == "cancelled"
    [payment] = await payments_of(db, request["id"])
    assert payment.status == "cancelled"


@pytest.mark.parametrize("final", ["cancelled", "expired", "completed"])
async def test_force_refuses_final_states(
    client: httpx.AsyncClient, db: Database, buyer: Account, admin: Account, final: str
) -> None:
    request = await post_request(client, buyer)
    await force(client, admin, request["id"], "expired" if final == "expired" else "cancelled")
    if final == "completed":
        request = await post_request(client, buyer)
        await update_rows(db, PurchaseRequest, request["id"], status="completed")
    r = await force(client, admin, request["id"], "open")
    assert r.status_code == 409 and code(r) == "INVALID_STATE_TRANSITION"
    assert "final" in r.json()["error"]["message"]


async def test_force_rules(
    client: httpx.AsyncClient, buyer: Account, seller: Account, admin: Account
) -> None:
    request = await post_request(client, buyer)
    rid = request["id"]
    assert (await force(client, buyer, rid, "expired")).status_code == 403
    assert (await force(client, admin, rid, "expired", reason=None)).status_code == 400
    assert (await force(client, admin, rid, "expired", reason="")).status_code == 400
    assert (await force(client, admin, rid, "funded")).status_code == 409  # not an edge
    assert (await force(client, admin, rid, "teleported")).status_code == 400
    needs = await force(client, admin, rid, "accepted")
    assert needs.status_code == 409 and code(needs) == "TRANSITION_NEEDS_INPUT"
    assert (await force(client, admin, str(uuid.uuid4()), "expired")).status_code == 404
