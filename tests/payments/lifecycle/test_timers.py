"""The escrow timers, driven with a chosen clock: the inspection window ends → release;
the delivery deadline passes → refund; reminders before each deadline, once; a dispute
freezes them all; each fires at most once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.marketplace.requests import service as requests
from bazaar.models import ChainTransfer, Job, User
from bazaar.payments import escrow, jobs, status
from bazaar.payments.errors import PaymentNotRefundable
from tests.fixtures.payments import (
    Deliver,
    FundPayment,
    MakeDeal,
    get_payment,
    get_request,
    ledger_kinds,
    payouts_of,
)


async def reminders(db: Database) -> list[tuple[str, str]]:
    async with db.session(False) as session:
        stmt = sa.select(Job.payload).where(Job.kind == "notification.deliver")
        payloads: list[dict[str, Any]] = list((await session.execute(stmt)).scalars())
    return sorted(
        (p["userId"], p["type"]) for p in payloads if p["type"].endswith("_deadline_soon")
    )


async def sweep(db: Database, step: Any, at: Any) -> int:
    async with db.transaction() as session:
        done: int = await step(session, at, settings=db.settings)
    return done


async def test_inspection_end_releases_once_and_completes(
    db: Database, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="80")
    request = await get_request(db, deal.request_id)
    assert request.inspection_deadline is not None
    before = request.inspection_deadline - timedelta(seconds=1)
    assert await sweep(db, jobs.auto_release, before) == 0
    assert (await get_payment(db, deal.payment_id)).status == status.HELD
    after = request.inspection_deadline + timedelta(seconds=1)
    assert await sweep(db, jobs.auto_release, after) == 1
    assert await sweep(db, jobs.auto_release, after + timedelta(hours=1)) == 0
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.RELEASED
    assert (await get_request(db, deal.request_id)).status == "completed"
    assert await ledger_kinds(db, deal.payment_id) == ["fund", "release"]
    # Nothing to refund either: the delivery timer passes over a settled payment.
    assert await sweep(db, jobs.auto_refund, after + timedelta(days=30)) == 0


async def test_delivery_deadline_refunds_an_undelivered_request(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="80")
    await fund_payment(deal.payment_id)
    request = await get_request(db, deal.request_id)
    assert request.delivery_deadline is not None
    assert await sweep(db, jobs.auto_refund, request.delivery_deadline - timedelta(minutes=1)) == 0
    at = request.delivery_deadline + timedelta(minutes=1)
    assert await sweep(db, jobs.auto_refund, at) == 1
    assert await sweep(db, jobs.auto_refund, at) == 0
    assert (await get_payment(db, deal.payment_id)).status == status.REFUNDED
    assert (await get_request(db, deal.request_id)).status == "refunded"
    assert await ledger_kinds(db, deal.payment_id) == ["fund", "refund"]


async def test_short_money_at_the_funding_deadline_goes_back_and_the_request_reopens(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    """5 of 20 paid and nothing more comes: without this sweep the money stayed in escrow
    and the request stayed accepted for ever (the marketplace's funding sweep skips
    requests that saw money)."""
    deal = await make_deal(price="20")
    payment = await fund_payment(deal.payment_id, "5")
    assert payment.status == status.PARTIALLY_PAID and payment.expires_at is not None
    assert await sweep(db, jobs.refund_short, payment.expires_at - timedelta(minutes=1)) == 0
    after = payment.expires_at + timedelta(minutes=1)
    # A top-up still confirming on chain may complete it: the sweep waits for it.
    async with db.transaction() as session:
        transfer = ChainTransfer(
            payment_id=deal.payment_id,
            chain_id=payment.network,
            tx_hash="0x" + "ab" * 32,
            status="confirming",
            created_at=after,
            updated_at=after,
        )
        session.add(transfer)
    assert await sweep(db, jobs.refund_short, after) == 0
    # The same check under the payment's lock (a top-up saved after the sweep's pick).
    with pytest.raises(PaymentNotRefundable):
        async with db.transaction() as session:
            await escrow.refund(
                session,
                deal.payment_id,
                actor_id=None,
                key="k",
                now=after,
                settings=db.settings,
                cause="timer.funding",
                short_ok=True,
            )
    async with db.transaction() as session:
        await session.execute(
            sa.update(ChainTransfer).where(ChainTransfer.id == transfer.id).values(status="failed")
        )
    assert await sweep(db, jobs.refund_short, after) == 1
    assert await sweep(db, jobs.refund_short, after) == 0
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.REFUNDED
    assert (await get_request(db, deal.request_id)).status == "open"
    assert await ledger_kinds(db, deal.payment_id) == ["fund", "refund"]
    [payout] = await payouts_of(db, deal.payment_id)
    assert (payout.kind, payout.recipient_id, payout.amount) == (
        "refund",
        deal.buyer.id,
        Decimal("5"),
    )


async def test_a_dispute_freezes_the_timers(db: Database, make_delivered: MakeDeal) -> None:
    deal = await make_delivered(price="80")
    async with db.transaction() as session:
        request = await requests.get_unscoped(session, deal.request_id, lock=True)
        buyer = await session.get_one(User, deal.buyer.id)
        await requests.open_dispute(session, request, actor=buyer, role="buyer")
    far = utcnow() + timedelta(days=365)
    assert await sweep(db, jobs.auto_release, far) == 0
    assert await sweep(db, jobs.auto_refund, far) == 0
    assert await sweep(db, jobs.send_reminders, far - timedelta(days=360)) == 0
    assert (await get_payment(db, deal.payment_id)).status == status.HELD
    assert await ledger_kinds(db, deal.payment_id) == ["fund"]


async def test_reminders_before_each_deadline_are_sent_once(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment, deliver: Deliver
) -> None:
    deal = await make_deal(price="80")
    lead = db.settings.payment_reminder_before
    request = await get_request(db, deal.request_id)
    assert request.funding_deadline is not None
    assert await sweep(db, jobs.send_reminders, request.funding_deadline - lead * 2) == 0
    soon = request.funding_deadline - lead + timedelta(minutes=1)
    await fund_payment(deal.payment_id, "30", now=soon - timedelta(minutes=2))  # short
    assert await sweep(db, jobs.send_reminders, soon) == 1
    assert await sweep(db, jobs.send_reminders, soon + timedelta(minutes=5)) == 0
    assert await reminders(db) == [(str(deal.buyer.id), "payment.funding_deadline_soon")]
    await fund_payment(deal.payment_id, "50", now=soon + timedelta(minutes=6))
    request = await get_request(db, deal.request_id)
    assert request.delivery_deadline is not None
    early = request.delivery_deadline - lead - timedelta(minutes=1)
    assert await sweep(db, jobs.send_reminders, early) == 0
    soon = request.delivery_deadline - lead + timedelta(minutes=1)
    assert await sweep(db, jobs.send_reminders, soon) == 1
    assert await sweep(db, jobs.send_reminders, soon + timedelta(minutes=5)) == 0
    assert await reminders(db) == sorted(
        [
            (str(deal.buyer.id), "payment.funding_deadline_soon"),
            (str(deal.seller.id), "payment.delivery_deadline_soon"),
        ]
    )

    await deliver(deal)
    request = await get_request(db, deal.request_id)
    assert request.inspection_deadline is not None
    soon = request.inspection_deadline - lead + timedelta(minutes=1)
    assert await sweep(db, jobs.send_reminders, soon) == 1
    assert await sweep(db, jobs.send_reminders, soon + timedelta(minutes=5)) == 0
    assert await reminders(db) == sorted(
        [
            (str(deal.buyer.id), "payment.funding_deadline_soon"),
            (str(deal.seller.id), "payment.delivery_deadline_soon"),
            (str(deal.buyer.id), "payment.inspection_deadline_soon"),
        ]
    )
    payment = await get_payment(db, deal.payment_id)
    assert payment.funding_reminded_at is not None
    assert payment.delivery_reminded_at is not None
    assert payment.inspection_reminded_at is not None


async def test_the_registered_sweeps_run_as_the_worker_runs_them(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment, make_delivered: MakeDeal
) -> None:
    """The worker's batch sweeps (no surrounding transaction; short transactions of
    BATCH payments) release the due payments, refund the lapsed ones, remind once."""
    from bazaar.kit.jobs import SWEEPS, BatchSweep, SweepContext

    released = await make_delivered(price="5")
    refunded = await make_deal(price="6")
    await fund_payment(refunded.payment_id)
    far = utcnow() + timedelta(days=60)

    def run(name: str) -> Any:
        sweep = SWEEPS[name]
        assert isinstance(sweep, BatchSweep)
        return sweep.run(SweepContext(db.settings, db, name), far)

    assert await run("payments.reminders") == 0  # both deadlines are past, not ahead
    assert await run("payments.auto_release") == 1
    assert await run("payments.auto_refund") == 1
    assert await run("payments.auto_release") == 0
    assert (await get_payment(db, released.payment_id)).status == status.RELEASED
    assert (await get_payment(db, refunded.payment_id)).status == status.REFUNDED
