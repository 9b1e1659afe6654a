"""Notification preferences: full defaults, partial changes kept, unknown names refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import User
from bazaar.users.preferences import EVENTS
from bazaar.users.service import wants_notification
from tests.fixtures.users import Account, MakeUser


async def test_defaults_list_every_event(client: httpx.AsyncClient, buyer: Account) -> None:
    response = await client.get("/api/user/preferences", headers=buyer.headers)
    assert response.status_code == 200
    prefs = response.json()["data"]
    assert set(prefs["notifications"]) == set(EVENTS)
    assert prefs["notifications"]["offer.received"] == {
        "inApp": True,
        "email": True,
        "telegram": False,
    }
    # Chat messages are not emailed unless the user asks for it.
    assert prefs["notifications"]["message.received"]["email"] is False
    assert prefs["language"] == "en"
    assert prefs["displayCurrency"] == "USD"


async def test_language_defaults_to_profile_locale(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    await client.patch("/api/user/profile", headers=buyer.headers, json={"locale": "de"})
    prefs = (await client.get("/api/user/preferences", headers=buyer.headers)).json()["data"]
    assert prefs["language"] == "de"


async def test_round_trip_keeps_what_was_not_sent(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    first = await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={
            "notifications": {
                "offer.received": {"email": False, "telegram": True},
                "dispute.opened": {"inApp": True, "email": True, "telegram": True},
            },
            "language": "fr",
            "displayCurrency": "eur",
        },
    )
    assert first.status_code == 200, first.text
    second = await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={"notifications": {"offer.received": {"inApp": False}}},
    )
    assert second.status_code == 200, second.text

    prefs = (await client.get("/api/users/preferences", headers=buyer.headers)).json()["data"]
    assert prefs["notifications"]["offer.received"] == {
        "inApp": False,
        "email": False,
        "telegram": True,
    }
    assert prefs["notifications"]["dispute.opened"]["telegram"] is True
    assert prefs["notifications"]["payment.held"] == {
        "inApp": True,
        "email": True,
        "telegram": False,
    }
    assert prefs["language"] == "fr"
    assert prefs["displayCurrency"] == "EUR"
    assert second.json()["data"] == prefs


async def test_preferences_are_per_user(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    alice, bob = await make_user(), await make_user()
    await client.put(
        "/api/user/preferences",
        headers=alice.headers,
        json={"notifications": {"payment.held": {"email": False}}},
    )
    prefs = (await client.get("/api/user/preferences", headers=bob.headers)).json()["data"]
    assert prefs["notifications"]["payment.held"]["email"] is True


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"notifications": {"offer.exploded": {"email": True}}}, "notifications.offer.exploded"),
        (
            {"notifications": {"offer.received": {"sms": True}}},
            "notifications.offer.received.sms",
        ),
        (
            {"notifications": {"offer.received": {"email": "yes"}}},
            "notifications.offer.received.email",
        ),
        ({"displayCurrency": "dollars"}, "displayCurrency"),
        ({"language": "klingon!"}, "language"),
        ({"theme": "dark"}, "theme"),
    ],
)
async def test_bad_names_and_values_are_refused(
    client: httpx.AsyncClient, buyer: Account, payload: dict[str, object], path: str
) -> None:
    before = (await client.get("/api/user/preferences", headers=buyer.headers)).json()["data"]
    response = await client.put("/api/user/preferences", headers=buyer.headers, json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert any(d["path"] == path for d in error["details"]), error["details"]
    after = (await client.get("/api/user/preferences", headers=buyer.headers)).json()["data"]
    assert after == before


async def test_unreadable_stored_values_fall_back_to_defaults(
    client: httpx.AsyncClient, buyer: Account, db: Database
) -> None:
    # Rows imported from the old system may hold shapes we never wrote.
    junk = {
        "notifications": {"offer.received": {"email": "sometimes", "sms": True}, "old": 1},
        "language": 42,
        "theme": "dark",
    }
    async with db.session() as session:
        await session.execute(sa.update(User).where(User.id == buyer.id).values(preferences=junk))
        await session.commit()
    prefs = (await client.get("/api/user/preferences", headers=buyer.headers)).json()["data"]
    assert prefs["notifications"]["offer.received"]["email"] is True
    assert set(prefs["notifications"]) == set(EVENTS)
    assert prefs["language"] == "en"

    response = await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={"notifications": {"offer.received": {"email": False}}},
    )
    assert response.status_code == 200
    assert response.json()["data"]["notifications"]["offer.received"]["email"] is False


async def test_delivery_follows_the_saved_choice(
    client: httpx.AsyncClient, buyer: Account, db: Database
) -> None:
    await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={"notifications": {"payment.held": {"email": False, "telegram": True}}},
    )
    async with db.session(False) as session:
        user = (await session.execute(sa.select(User).where(User.id == buyer.id))).scalar_one()
    assert wants_notification(user, "payment.held", "email") is False
    assert wants_notification(user, "payment.held", "telegram") is True
    assert wants_notification(user, "payment.released", "email") is True
    assert wants_notification(user, "message.received", "email") is False
    # An event type added later by another domain gets the defaults.
    assert wants_notification(user, "points.awarded", "inApp") is True
    assert wants_notification(user, "points.awarded", "telegram") is False


async def test_concurrent_changes_to_different_events_are_all_kept(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    """12 parallel PUTs, each switching one event's email off: PostgreSQL kept 3-9 of them
    when the merge used the user row the auth dependency read without a lock."""
    user = await make_user(roles=["buyer"])
    events = sorted(EVENTS)[:12]
    assert len(events) == 12
    answers = await asyncio.gather(
        *(
            client.put(
                "/api/user/preferences",
                headers=user.headers,
                json={"notifications": {event: {"email": False}}},
            )
            for event in events
        )
    )
    assert [a.status_code for a in answers] == [200] * 12
    final = (await client.get("/api/user/preferences", headers=user.headers)).json()["data"]
    assert {e for e in events if final["notifications"][e]["email"] is False} == set(events)
