"""Marketplace timers with a controlled clock: request expiry, funding-window lapse, offer
expiry. Each fires once, also when two workers sweep at the same moment."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import Database
from bazaar.kit.jobs import SWEEPS
from bazaar.marketplace import jobs
from bazaar.models import Payment, RequestHistory, SellerOffer
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    accept,
    accepted_deal,
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

Sweep = Callable[[AsyncSession, datetime], Awaitable[int]]


async def sweep(db: Database, run: Sweep, now: datetime) -> int:
    """One worker's pass: a write transaction, committed like the worker commits it."""
    async with db.session() as session:
        moved = await run(session, now)
        await session.commit()
        return moved


def test_sweeps_are_registered_every_minute() -> None:
    for name in (
        "marketplace.expire_requests",
        "marketplace.lapse_funding",
        "marketplace.expire_offers",
    ):
        assert SWEEPS[name].every == timedelta(minutes=1)
    assert SWEEPS["marketplace.expire_requests"].run is jobs.expire_requests


async def test_open_request_expires_at_its_deadline_with_its_offers(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    deadline = iso(request["expiresAt"])

    assert await sweep(db, jobs.expire_requests, deadline - timedelta(seconds=1)) == 0
    assert (await get_request(db, request["id"])).status == "open"

    assert await sweep(db, jobs.expire_requests, deadline) == 1
    assert (await get_request(db, request["id"])).status == "expired"
    assert (await get_offer(db, offer["id"])).status == "expired"
    last = (await history_of(db, request["id"]))[-1]
    assert (last.from_status, last.to_status) == ("open", "expired")
    assert (last.actor_id, last.actor_role) == (None, "system")
    assert last.created_at == deadline
    assert len(await notified(db, buyer, "request.expired")) == 1
    assert len(await notified(db, seller, "request.expired")) == 1
    # A later pass finds nothing left to do.
    assert await sweep(db, jobs.expire_requests, deadline + timedelta(hours=1)) == 0


async def test_funding_window_lapse_reopens_the_request(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    rival = await make_user(["seller"])
    request = await post_request(client, buyer)
    superseded = await post_offer(client, rival, request["id"])
    offer = await post_offer(client, seller, request["id"])
    r = await accept(client, buyer, offer["id"])
    deadline = iso(r.json()["data"]["fundingDeadline"])

    assert await sweep(db, jobs.lapse_funding_windows, deadline - timedelta(seconds=1)) == 0
    assert await sweep(db, jobs.lapse_funding_windows, deadline) == 1

    row = await get_request(db, request["id"])
    assert (row.status, row.accepted_offer_id, row.locked_price, row.funding_deadline) == (
        "open",
        None,
        None,
        None,
    )
    assert (await get_offer(db, offer["id"])).status == "expired"
    assert (await get_offer(db, superseded["id"])).status == "superseded"
    [payment] = await payments_of(db, request["id"])
    assert payment.status == "expired"
    last = (await history_of(db, request["id"]))[-1]
    assert (last.from_status, last.to_status, last.actor_role) == ("accepted", "open", "system")
    assert len(await notified(db, buyer, "request.funding_expired")) == 1
    assert len(await notified(db, seller, "request.funding_expired")) == 1
    # Open again: the rival may offer anew and the buyer may accept it.
    again = await post_offer(client, rival, request["id"], price="70")
    accepted = await accept(client, buyer, again["id"])
    assert accepted.status_code == 200
    assert len(await payments_of(db, request["id"])) == 2


async def test_no_lapse_while_money_is_arriving(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await accepted_deal(client, buyer, seller)
    [payment] = await payments_of(db, request["id"])
    await update_rows(db, Payment, payment.id, status="partially_paid")
    later = (await get_request(db, request["id"])).funding_deadline + timedelta(hours=1)  # type: ignore[operator]
    assert await sweep(db, jobs.lapse_funding_windows, later) == 0
    assert (await get_request(db, request["id"])).status == "accepted"


async def test_pending_offer_expires_at_its_own_deadline(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request = await post_request(client, buyer)
    soon = iso(request["createdAt"]) + timedelta(days=1)
    short = await post_offer(client, seller, request["id"], expiresAt=soon.isoformat())
    rival = await make_user(["seller"])
    longer = await post_offer(client, rival, request["id"])

    assert await sweep(db, jobs.expire_offers, soon - timedelta(seconds=1)) == 0
    assert await sweep(db, jobs.expire_offers, soon) == 1
    assert (await get_offer(db, short["id"])).status == "expired"
    assert (await get_offer(db, longer["id"])).status == "pending"
    assert (await get_request(db, request["id"])).status == "open"
    [told] = await notified(db, seller, "offer.expired")
    assert told["offerId"] == short["id"]
    # An accepted offer is not a pending one: its expiry passing changes nothing.
    r = await accept(client, buyer, longer["id"])
    assert r.status_code == 200
    far = iso(request["expiresAt"]) + timedelta(days=1)
    assert await sweep(db, jobs.expire_offers, far) == 0
    assert (await get_offer(db, longer["id"])).status == "accepted"


async def count_rows(db: Database, model: type, *where: sa.ColumnElement[bool]) -> int:
    async with db.session(False) as session:
        stmt = sa.select(sa.func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())


async def test_two_workers_sweeping_at_once_fire_each_timer_once(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    sellers = [await make_user(["seller"]) for _ in range(2)]
    requests = [await post_request(client, buyer, title=f"Chair {n}") for n in range(6)]
    for request in requests:
        for seller in sellers:
            await post_offer(client, seller, request["id"])
    deals = [await accepted_deal(client, buyer, sellers[0]) for _ in range(3)]
    later = max(iso(r["expiresAt"]) for r in requests) + timedelta(days=2)

    for run in (jobs.expire_requests, jobs.lapse_funding_windows):
        moved = await asyncio.gather(sweep(db, run, later), sweep(db, run, later))
        assert sum(moved) == (6 if run is jobs.expire_requests else 3)

    for request in requests:
        rows = await count_rows(
            db,
            RequestHistory,
            RequestHistory.request_id == uuid.UUID(request["id"]),
            RequestHistory.to_status == "expired",
        )
        assert rows == 1
    for deal, _ in deals:
        rows = await count_rows(
            db,
            RequestHistory,
            RequestHistory.request_id == uuid.UUID(deal["id"]),
            RequestHistory.from_status == "accepted",
        )
        assert rows == 1
    # 6 requests x 2 sellers, each told once that the request expired.
    assert sum([len(await notified(db, s, "request.expired")) for s in sellers]) == 12


async def test_two_workers_expiring_offers_tell_each_seller_once(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    sellers = [await make_user(["seller"]) for _ in range(4)]
    request = await post_request(client, buyer)
    soon = iso(request["createdAt"]) + timedelta(hours=2)
    offers = [
        await post_offer(client, s, request["id"], expiresAt=soon.isoformat()) for s in sellers
    ]
    moved = await asyncio.gather(
        sweep(db, jobs.expire_offers, soon), sweep(db, jobs.expire_offers, soon)
    )
    assert sum(moved) == 4
    assert await count_rows(db, SellerOffer, SellerOffer.status == "expired") == len(offers)
    for seller in sellers:
        assert len(await notified(db, seller, "offer.expired")) == 1


@contextlib.asynccontextmanager
async def history_refused_for(db: Database, request_id: str) -> AsyncIterator[None]:
    """The database refuses history rows of one request (a trigger), so moving that request
    fails half-way: after its status changed, before its history is written."""
    hex_id = uuid.UUID(request_id).hex
    if db.backend == "postgresql":
        create = [
            "CREATE FUNCTION test_refuse_history() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.request_id = '{hex_id}'::uuid THEN "
            "RAISE EXCEPTION 'history refused by the test'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER test_refuse_history BEFORE INSERT ON request_history "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_history()",
        ]
        drop = [
            "DROP TRIGGER IF EXISTS test_refuse_history ON request_history",
            "DROP FUNCTION IF EXISTS test_refuse_history()",
        ]
    else:
        # SQLite stores a UUID as 32 hex digits.
        create = [
            "CREATE TRIGGER test_refuse_history BEFORE INSERT ON request_history "
            f"WHEN NEW.request_id = '{hex_id}' "
            "BEGIN SELECT RAISE(ABORT, 'history refused by the test'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS test_refuse_history"]
    async with db.engine.begin() as conn:
        for statement in create:
            await conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            for statement in drop:
                await conn.exec_driver_sql(statement)


async def test_a_request_that_fails_half_way_leaves_nothing_and_the_others_move(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    requests = [await post_request(client, buyer, title=f"Lamp {n}") for n in range(3)]
    offers = [await post_offer(client, seller, r["id"]) for r in requests]
    later = max(iso(r["expiresAt"]) for r in requests) + timedelta(hours=1)
    broken = requests[1]

    async with history_refused_for(db, broken["id"]):
        assert await sweep(db, jobs.expire_requests, later) == 2

    # The broken request kept nothing of its move: status, history, offers, notices.
    assert (await get_request(db, broken["id"])).status == "open"
    assert [h.to_status for h in await history_of(db, broken["id"])] == ["draft", "open"]
    assert (await get_offer(db, offers[1]["id"])).status == "pending"
    told = await notified(db, seller, "request.expired")
    assert sorted(n["requestId"] for n in told) == sorted([requests[0]["id"], requests[2]["id"]])
    # The others were committed around it.
    for n in (0, 2):
        assert (await get_request(db, requests[n]["id"])).status == "expired"
        assert (await get_offer(db, offers[n]["id"])).status == "expired"
    # Once the database takes its history again, the next pass moves it.
    assert await sweep(db, jobs.expire_requests, later) == 1
    assert (await get_request(db, broken["id"])).status == "expired"
