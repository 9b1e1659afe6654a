"""Confirmation thresholds: the admin's value for a (chain, token) wins over the configured
ones, is changed at runtime through /api/admin/settings/confirmation-thresholds, and only
admins read or change it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.payments.safety import rules
from bazaar.payments.safety import service as safety
from tests.fixtures.users import MakeUser
from tests.payments.safety.support import THRESHOLDS


def configured(base: Settings, table: dict[str, Any]) -> Settings:
    return base.model_copy(
        update={
            "transaction_safety_default_confirmations": 12,
            "transaction_safety_confirmations": rules.parse_confirmations(table),
        }
    )


def by_pair(data: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    return {(item["chainId"], item["currency"]): item for item in data["items"]}


async def required(db: Database, settings: Settings, chain_id: int, currency: str) -> int:
    async with db.session(False) as session:
        return await safety.confirmations_required(session, chain_id, currency, settings=settings)


async def test_admin_value_wins_over_configuration_and_default(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: MakeUser
) -> None:
    admin = await make_user(["admin"])
    mine = configured(settings, {"10": 5, "base": {"DAI": 30}})
    assert await required(db, mine, 8453, "USDC") == 12  # the default
    assert await required(db, mine, 8453, "DAI") == 30  # per chain and token
    assert await required(db, mine, 10, "USDT") == 5  # per chain

    body = {"chainId": 8453, "currency": "usdc", "confirmations": 3}
    answer = await client.put(THRESHOLDS, json=body, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    stored = by_pair(answer.json()["data"])[(8453, "USDC")]
    assert (stored["confirmations"], stored["source"]) == (3, "admin")
    assert stored["updatedBy"] == str(admin.id) and stored["network"] == "base"
    # Runtime: the next check reads the new value, whatever the settings say.
    assert await required(db, mine, 8453, "USDC") == 3
    assert await required(db, mine, 8453, "DAI") == 30

    # A list changes several at once; the same pair again replaces the value.
    batch = [
        {"chainId": 8453, "currency": "USDC", "confirmations": 7},
        {"chainId": 1, "currency": "DAI", "confirmations": 64},
    ]
    answer = await client.put(THRESHOLDS, json=batch, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    table = by_pair(answer.json()["data"])
    assert table[(8453, "USDC")]["confirmations"] == 7
    assert table[(1, "DAI")]["confirmations"] == 64
    assert await required(db, mine, 1, "DAI") == 64

    listed = await client.get(THRESHOLDS, headers=admin.headers)
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert data["default"] == settings.transaction_safety_default_confirmations
    rows = by_pair(data)
    # Every pair the token registry pays on is listed, with where its value comes from.
    assert rows[(1, "USDT")]["source"] == "default"
    assert rows[(1, "USDT")]["confirmations"] == settings.transaction_safety_default_confirmations
    assert rows[(8453, "USDC")]["source"] == "admin"


async def test_bad_thresholds_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: MakeUser
) -> None:
    admin = await make_user(["admin"])
    good = {"chainId": 8453, "currency": "USDC", "confirmations": 2}
    cases: list[tuple[Any, str]] = [
        ({**good, "confirmations": 0}, "confirmations"),
        ({**good, "confirmations": 10_001}, "confirmations"),
        ({**good, "currency": "NOPE"}, "currency"),
        ({**good, "chainId": 1, "currency": "EURC", "extra": 1}, "extra"),
        ({"chainId": 56, "currency": "USDC", "confirmations": 3}, "chainId"),  # no USDC there
        ([good, {**good, "confirmations": 9}], "1.currency"),  # the same pair twice
        ([], "body"),
    ]
    for body, path in cases:
        answer = await client.put(THRESHOLDS, json=body, headers=admin.headers)
        assert answer.status_code == 400, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "VALIDATION_FAILED"
        assert any(path in d["path"] for d in error["details"]), (body, error)
    assert await required(db, settings, 8453, "USDC") == (
        settings.transaction_safety_default_confirmations
    )


async def test_only_admins_read_or_change_thresholds(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    guard = await make_user(["guard"])
    both = await make_user(["buyer", "seller"])
    body = {"chainId": 8453, "currency": "USDC", "confirmations": 1}
    for who in (guard, both):
        for answer in (
            await client.get(THRESHOLDS, headers=who.headers),
            await client.put(THRESHOLDS, json=body, headers=who.headers),
        ):
            assert answer.status_code == 403
            assert answer.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await client.get(THRESHOLDS)).status_code == 401
    assert (await client.put(THRESHOLDS, json=body)).status_code == 401


async def test_concurrent_changes_of_one_pair_all_succeed_and_one_value_stays(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: MakeUser
) -> None:
    admin = await make_user(["admin"])
    values = list(range(2, 12))
    answers = await asyncio.gather(
        *(
            client.put(
                THRESHOLDS,
                json={"chainId": 10, "currency": "USDC", "confirmations": n},
                headers=admin.headers,
            )
            for n in values
        )
    )
    # The upsert never collides on the key: no 409 or 500 for a lost race.
    assert [a.status_code for a in answers] == [200] * len(values)
    assert await required(db, settings, 10, "USDC") in values
