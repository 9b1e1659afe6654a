"""Idempotency-Key on a money-moving POST: replay, reuse refused, failures not stored,
concurrent duplicates run the effects once. Exercised through a throwaway route."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bazaar.auth.dependencies import Idem, OptionalUser
from bazaar.kit.db import Database
from bazaar.kit.deps import WriteSession
from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import enqueue
from bazaar.kit.schemas import Input, ok
from tests.fixtures.users import Account, MakeUser

PAY = "/api/test/pay"
EFFECT = "test.idem.payout"


class PayIn(Input):
    amount: Decimal
    note: str = ""


class Route:
    """Switches the throwaway endpoint's behaviour and counts how often it really ran."""

    def __init__(self) -> None:
        self.fail: str | None = None
        self.runs = 0
        # Set by a run once its effects are written, its transaction still open; while
        # `hold` is given and not set, the run waits there before it finishes.
        self.entered = asyncio.Event()
        self.hold: asyncio.Event | None = None


@pytest.fixture
async def client(fresh_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """These tests add routes: a client of an app of their own."""
    transport = httpx.ASGITransport(app=fresh_app, client=("203.0.113.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def route(fresh_app: FastAPI) -> Route:
    app = fresh_app
    state = Route()

    async def pay(body: PayIn, session: WriteSession, user: OptionalUser, idem: Idem) -> Any:
        if idem.replay:
            return idem.replay
        state.runs += 1
        job = await enqueue(session, EFFECT, {"amount": str(body.amount)})
        state.entered.set()
        if state.hold is not None:
            await state.hold.wait()
        if state.fail == "refused":
            raise Conflict("Insufficient escrow balance", code="TEST_REFUSED")
        if state.fail == "crash":
            raise RuntimeError("provider exploded")
        if state.fail == "402":
            return await idem.save(session, {"success": False}, 402)
        data = ok({"payoutId": str(job.id), "amount": str(body.amount), "run": state.runs})
        return await idem.save(session, data, 201)

    async def forgetful(body: PayIn, session: WriteSession, idem: Idem) -> JSONResponse:
        await enqueue(session, EFFECT, {"amount": str(body.amount)})
        return JSONResponse(ok({}), status_code=201)

    app.add_api_route(PAY, pay, methods=["POST"])
    app.add_api_route("/api/test/pay-other", pay, methods=["POST"])
    app.add_api_route("/api/test/forgetful", forgetful, methods=["POST"])
    return state


async def payouts(db: Database) -> int:
    async with db.session(False) as session:
        stmt = sa.select(sa.func.count()).where(sa.text("kind = :k")).select_from(sa.table("jobs"))
        return int((await session.execute(stmt, {"k": EFFECT})).scalar_one())


def key(value: str, account: Account | None = None) -> dict[str, str]:
    return {"Idempotency-Key": value, **(account.headers if account else {})}


async def test_same_key_and_body_replays_the_first_response(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database
) -> None:
    first = await client.post(PAY, json={"amount": "12.50", "note": "x"}, headers=key("k1", buyer))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # Same body, other key order and spacing: still the same request.
    again = await client.post(
        PAY,
        content=b'{ "note": "x",  "amount": "12.50" }',
        headers={**key("k1", buyer), "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert route.runs == 1
    assert await payouts(db) == 1


async def test_same_key_with_another_request_is_refused(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database
) -> None:
    assert (await client.post(PAY, json={"amount": "10"}, headers=key("k", buyer))).is_success
    for path, body in ((PAY, {"amount": "10.01"}), ("/api/test/pay-other", {"amount": "10"})):
        reused = await client.post(path, json=body, headers=key("k", buyer))
        assert reused.status_code == 409
        assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert route.runs == 1
    assert await payouts(db) == 1


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, route: Route, buyer: Account, make_user: MakeUser, db: Database
) -> None:
    other = await make_user(["buyer"])
    mine = await client.post(PAY, json={"amount": "5"}, headers=key("shared", buyer))
    theirs = await client.post(PAY, json={"amount": "5"}, headers=key("shared", other))
    anonymous = await client.post(PAY, json={"amount": "5"}, headers=key("shared"))
    assert [r.status_code for r in (mine, theirs, anonymous)] == [201, 201, 201]
    assert all("Idempotent-Replayed" not in r.headers for r in (theirs, anonymous))
    assert len({r.json()["data"]["payoutId"] for r in (mine, theirs, anonymous)}) == 3
    assert await payouts(db) == 3


async def test_without_a_key_every_request_runs(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database
) -> None:
    for _ in range(2):
        assert (await client.post(PAY, json={"amount": "1"}, headers=buyer.headers)).is_success
    assert await payouts(db) == 2


@pytest.mark.parametrize("fail", ["refused", "crash", "invalid-body"])
async def test_a_failed_request_stores_nothing_and_can_be_retried(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database, fail: str
) -> None:
    body: dict[str, Any] = {"amount": "7.5"}
    if fail == "invalid-body":
        failed = await client.post(PAY, json={"amount": "seven"}, headers=key("retry-me", buyer))
        assert failed.status_code == 400
    else:
        route.fail = fail
        failed = await client.post(PAY, json=body, headers=key("retry-me", buyer))
        assert failed.status_code == (409 if fail == "refused" else 500)
    assert await payouts(db) == 0  # the failed request's effects were rolled back
    route.fail = None
    retried = await client.post(PAY, json=body, headers=key("retry-me", buyer))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert await payouts(db) == 1


async def test_non_2xx_responses_are_not_replayed(
    client: httpx.AsyncClient, route: Route, buyer: Account
) -> None:
    route.fail = "402"
    assert (
        await client.post(PAY, json={"amount": "3"}, headers=key("k", buyer))
    ).status_code == 402
    route.fail = None
    retried = await client.post(PAY, json={"amount": "3"}, headers=key("k", buyer))
    assert retried.status_code == 201
    assert route.runs == 2


async def test_endpoint_that_forgets_to_save_fails_loudly_and_keeps_nothing(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database
) -> None:
    response = await client.post(
        "/api/test/forgetful", json={"amount": "1"}, headers=key("k", buyer)
    )
    assert response.status_code == 500
    assert await payouts(db) == 0


@pytest.mark.parametrize("bad", ["", "x" * 256, "tab\there", "caf\u00e9"])
async def test_malformed_keys_are_rejected(
    client: httpx.AsyncClient, route: Route, buyer: Account, bad: str
) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"Idempotency-Key", bad.encode("latin-1")),
        *((k.encode(), v.encode()) for k, v in buyer.headers.items()),
    ]
    response = await client.post(PAY, json={"amount": "1"}, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"][0]["path"] == "Idempotency-Key"
    assert route.runs == 0


async def test_a_255_character_key_is_accepted(
    client: httpx.AsyncClient, route: Route, buyer: Account
) -> None:
    response = await client.post(PAY, json={"amount": "1"}, headers=key("k" * 255, buyer))
    assert response.status_code == 201


async def lock_waiters(db: Database) -> int:
    """How many sessions of this database wait for a lock (PostgreSQL)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with db.reading() as session:
        return int((await session.execute(query)).scalar_one())


@contextlib.contextmanager
def write_begins(db: Database, count: int) -> Iterator[asyncio.Event]:
    """Set once `count` write transactions have sent their `BEGIN IMMEDIATE` (SQLite) while
    the block runs; one that begins while another is open waits there for the write lock."""
    begins = 0
    reached = asyncio.Event()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal begins
        if statement == "BEGIN IMMEDIATE":
            begins += 1
            if begins >= count:
                reached.set()

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield reached
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)


async def test_concurrent_duplicates_run_the_effects_once(
    client: httpx.AsyncClient, route: Route, buyer: Account, db: Database
) -> None:
    # The first request to claim the key stays in its transaction until the other three
    # have arrived and wait on it.
    route.hold = asyncio.Event()
    same = [
        client.post(PAY, json={"amount": "99.99"}, headers=key("race", buyer)) for _ in range(3)
    ]
    other = client.post(PAY, json={"amount": "1.00"}, headers=key("race", buyer))
    with write_begins(db, 4) as all_begun:
        requests = asyncio.gather(*same, other)
        try:
            async with asyncio.timeout(30):
                await route.entered.wait()
                if db.backend == "postgresql":
                    # Each waits on the first one's uncommitted key (the unique index).
                    while not requests.done() and await lock_waiters(db) < 3:
                        pass
                else:
                    # SQLite: each waits to begin its transaction (one BEGIN IMMEDIATE a
                    # request: the first one's and the three others').
                    await all_begun.wait()
            assert not requests.done()
        finally:
            route.hold.set()
        *duplicates, reused = await requests
    # Whichever body claims the key first wins; arrival order is up to the scheduler.
    if reused.status_code == 201:
        winners, losers = [reused], duplicates
    else:
        winners, losers = duplicates, [reused]
    assert [r.status_code for r in winners] == [201] * len(winners)
    assert all(r.json() == winners[0].json() for r in winners)
    replayed = sorted(r.headers.get("Idempotent-Replayed", "") for r in winners)
    assert replayed == [""] + ["true"] * (len(winners) - 1)
    assert [r.status_code for r in losers] == [409] * len(losers)
    assert route.runs == 1
    assert await payouts(db) == 1
