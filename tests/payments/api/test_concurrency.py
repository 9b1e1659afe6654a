"""Money moves exactly once under concurrency, through the HTTP API, on both databases:
50 releases of one payment with different keys, a release racing a refund, and one
Idempotency-Key sent 20 times at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import PaymentEvent, Payout
from bazaar.payments.ledger.verify import verify
from tests.fixtures.payments import (
    Deal,
    MakeDeal,
    get_payment,
    get_request,
    ledger_kinds,
)

PAY = "/api/payment"


async def count(db: Database, model: type, deal: Deal) -> int:
    async with db.session(False) as session:
        stmt = (
            sa.select(sa.func.count())
            .select_from(model)
            .where(
                model.payment_id == deal.payment_id  # type: ignore[attr-defined]
            )
        )
        return int((await session.execute(stmt)).scalar_one())


async def ledger_holds(db: Database) -> None:
    """`bazaar ledger verify`'s checks: every invariant of SPEC §5 holds."""
    async with db.session(False) as session:
        report = await verify(session)
    assert report.ok, [(c.name, c.breaches) for c in report.checks if not c.ok]


async def test_fifty_concurrent_releases_move_the_money_once(
    client: httpx.AsyncClient, db: Database, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="100")
    url = f"{PAY}/{deal.payment_id}/release"

    async def release() -> httpx.Response:
        headers = {**deal.buyer.headers, "Idempotency-Key": uuid.uuid4().hex}
        return await client.post(url, headers=headers)

    answers = await asyncio.gather(*(release() for _ in range(50)))
    outcomes = Counter((a.status_code, a.json().get("error", {}).get("code")) for a in answers)
    assert outcomes == {(200, None): 1, (409, "PAYMENT_NOT_HELD"): 49}, outcomes
    assert Counter(await ledger_kinds(db, deal.payment_id)) == {"fund": 1, "release": 1}
    assert await count(db, Payout, deal) == 1
    assert await count(db, PaymentEvent, deal) == 3  # → confirming → held → released
    assert (await get_payment(db, deal.payment_id)).status == "released"
    await ledger_holds(db)


async def test_release_racing_refund_has_one_outcome(
    client: httpx.AsyncClient, db: Database, make_delivered: MakeDeal
) -> None:
    for _ in range(3):
        deal = await make_delivered(price="100")
        # Delivered: the buyer may release and the seller may still give the money back.
        release = client.post(
            f"{PAY}/{deal.payment_id}/release",
            headers={**deal.buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        refund = client.post(
            f"{PAY}/{deal.payment_id}/refund",
            json={"reason": "changed my mind"},
            headers={**deal.seller.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        answers = await asyncio.gather(release, refund)
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        kinds = Counter(await ledger_kinds(db, deal.payment_id))
        status = (await get_payment(db, deal.payment_id)).status
        assert kinds in ({"fund": 1, "release": 1}, {"fund": 1, "refund": 1}), kinds
        assert status == ("released" if kinds["release"] else "refunded")
        request = await get_request(db, deal.request_id)
        assert request.status == ("completed" if kinds["release"] else "refunded")
        assert await count(db, Payout, deal) == 1
    await ledger_holds(db)


async def test_one_key_sent_twenty_times_moves_the_money_once(
    client: httpx.AsyncClient, db: Database, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="100")
    headers = {**deal.buyer.headers, "Idempotency-Key": "release-once"}
    url = f"{PAY}/{deal.payment_id}/release"
    answers = await asyncio.gather(*(client.post(url, headers=headers) for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    replayed = [a.headers.get("Idempotent-Replayed") == "true" for a in answers]
    assert replayed.count(False) == 1
    assert all(a.json() == answers[0].json() for a in answers)  # replays: the first answer
    assert Counter(await ledger_kinds(db, deal.payment_id)) == {"fund": 1, "release": 1}
    assert await count(db, Payout, deal) == 1
    await ledger_holds(db)


async def test_two_sweepers_release_a_due_payment_once(
    db: Database, make_delivered: MakeDeal
) -> None:
    """Two workers run the inspection sweep at the same moment: SKIP LOCKED on PostgreSQL
    (the second passes over the claimed rows), one write transaction at a time on SQLite."""
    from datetime import timedelta

    from bazaar.payments import jobs

    deals = [await make_delivered(price="100") for _ in range(3)]
    request = await get_request(db, deals[-1].request_id)
    assert request.inspection_deadline is not None
    at = request.inspection_deadline + timedelta(minutes=1)

    async def sweep() -> int:
        async with db.transaction() as session:
            return await jobs.auto_release(session, at, settings=db.settings)

    done = await asyncio.gather(sweep(), sweep())
    assert sum(done) == 3, done
    for deal in deals:
        assert Counter(await ledger_kinds(db, deal.payment_id)) == {"fund": 1, "release": 1}
        assert (await get_request(db, deal.request_id)).status == "completed"
    await ledger_holds(db)
