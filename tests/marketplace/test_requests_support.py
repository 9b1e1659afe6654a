"""Helpers shared by the purchase request and offer tests (this module holds no tests).

Requests and offers are made through the HTTP API, as a client would; states the API
cannot reach yet (funded, delivered, disputed …) are reached through the service functions
the later issues call.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.marketplace.requests import service as requests
from bazaar.models import Job, Payment, PurchaseRequest, RequestHistory, SellerOffer
from tests.fixtures.marketplace import ensure_payout_wallet
from tests.fixtures.users import Account

REQUESTS = "/api/marketplace/requests"
OFFERS = "/api/marketplace/offers"


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Vintage film camera",
        "description": "A working 35mm rangefinder with a clean lens",
        "isDigital": True,
        "budgetMin": "50",
        "budgetMax": "150",
        "currency": "USDC",
        "publish": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def post_request(client: httpx.AsyncClient, who: Account, **overrides: Any) -> dict[str, Any]:
    response = await client.post(REQUESTS, json=request_body(**overrides), headers=who.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def post_offer(
    client: httpx.AsyncClient, who: Account, request_id: str, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requestId": request_id,
        "price": "99.50",
        "network": 8453,
        "deliveryDays": 5,
    }
    body.update(overrides)
    await ensure_payout_wallet(client, who, body.get("network"))
    response = await client.post(OFFERS, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def accept(
    client: httpx.AsyncClient, who: Account, offer_id: str, version: int | None = 1, **body: Any
) -> httpx.Response:
    """`version` is the offer version the buyer reviewed (1: as made); None sends none."""
    if version is not None:
        body["version"] = version
    return await client.post(f"{OFFERS}/{offer_id}/accept", json=body or None, headers=who.headers)


async def accepted_deal(
    client: httpx.AsyncClient, buyer: Account, seller: Account, **request_fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An accepted request and its accepted offer, through the API."""
    request = await post_request(client, buyer, **request_fields)
    offer = await post_offer(client, seller, request["id"])
    response = await accept(client, buyer, offer["id"])
    assert response.status_code == 200, response.text
    return request, offer


async def fund(db: Database, request_id: str | uuid.UUID) -> None:
    """What the payments issue does when the payment is held in escrow (the system's move:
    not even an admin may force it)."""
    async with db.session() as session:
        request = await requests.get_unscoped(session, request_id, lock=True)
        await requests.mark_funded(session, request, utcnow(), settings=db.settings)
        await session.commit()


async def get_request(db: Database, request_id: str | uuid.UUID) -> PurchaseRequest:
    async with db.session(False) as session:
        return await session.get_one(PurchaseRequest, uuid.UUID(str(request_id)))


async def get_offer(db: Database, offer_id: str | uuid.UUID) -> SellerOffer:
    async with db.session(False) as session:
        return await session.get_one(SellerOffer, uuid.UUID(str(offer_id)))


async def payments_of(db: Database, request_id: str | uuid.UUID) -> list[Payment]:
    async with db.session(False) as session:
        stmt = sa.select(Payment).where(Payment.request_id == uuid.UUID(str(request_id)))
        return list((await session.execute(stmt)).scalars())


async def history_of(db: Database, request_id: str | uuid.UUID) -> list[RequestHistory]:
    async with db.session(False) as session:
        stmt = (
            sa.select(RequestHistory)
            .where(RequestHistory.request_id == uuid.UUID(str(request_id)))
            .order_by(RequestHistory.created_at, RequestHistory.from_status.is_not(None))
        )
        return list((await session.execute(stmt)).scalars())


async def notifications(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """Queued notifications as (user id, type, data), oldest first."""
    async with db.session(False) as session:
        stmt = (
            sa.select(Job.payload)
            .where(Job.kind == "notification.deliver")
            .order_by(Job.created_at, Job.id)
        )
        rows = (await session.execute(stmt)).scalars()
        return [(p["userId"], p["type"], p["data"]) for p in rows]


async def notified(db: Database, who: Account, type_: str) -> list[dict[str, Any]]:
    return [
        data
        for user, kind, data in await notifications(db)
        if user == str(who.id) and kind == type_
    ]


async def update_rows(db: Database, model: Any, row_id: str | uuid.UUID, **values: Any) -> None:
    """Change a row behind the API's back (to set up a clock or an upstream state)."""
    async with db.session() as session:
        await session.execute(
            sa.update(model).where(model.id == uuid.UUID(str(row_id))).values(**values)
        )
        await session.commit()


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
