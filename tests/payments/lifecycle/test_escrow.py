"""Escrow orchestration through the service functions: money arriving (short, exact, over,
late, screened), held → request funded, release → completed with the seller payable and a
payout, refund → refunded, and each move recorded as an event with its notifications."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import InvalidStateTransition
from bazaar.models import Job, LedgerTransaction, Payout
from bazaar.payments import escrow, ledger, lifecycle, repository, status
from bazaar.payments.errors import PaymentNotHeld, PaymentNotRefundable
from tests.fixtures.payments import (
    Deal,
    Deliver,
    FundPayment,
    MakeDeal,
    get_payment,
    get_request,
)


async def events(db: Database, deal: Deal) -> list[tuple[str | None, str, str]]:
    async with db.session(False) as session:
        found = await repository.events_of(session, deal.payment_id)
    return [(e.from_status, e.to_status, e.cause) for e in found]


async def jobs(db: Database, kind: str) -> list[dict[str, Any]]:
    async with db.session(False) as session:
        stmt = sa.select(Job.payload).where(Job.kind == kind).order_by(Job.run_at)
        return list((await session.execute(stmt)).scalars())


async def ledger_kinds(db: Database, deal: Deal) -> list[str]:
    async with db.session(False) as session:
        stmt = (
            sa.select(LedgerTransaction.kind)
            .where(LedgerTransaction.payment_id == deal.payment_id)
            .order_by(LedgerTransaction.created_at)
        )
        return list((await session.execute(stmt)).scalars())


async def test_exact_funding_holds_the_payment_and_funds_the_request(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="99.50")
    payment = await fund_payment(deal.payment_id)
    assert payment.status == status.HELD
    assert payment.held_at is not None
    assert (payment.amount_paid, payment.overpaid, payment.paid_late) == (
        Decimal("99.50"),
        False,
        False,
    )
    request = await get_request(db, deal.request_id)
    assert request.status == "funded"
    assert request.delivery_deadline is not None
    assert await events(db, deal) == [
        ("pending", "confirming", "chain.confirmed"),
        ("confirming", "held", "chain.confirmed"),
    ]
    # Both parties told, and the payment's room.
    notices = [(j["userId"], j["type"]) for j in await jobs(db, "notification.deliver")]
    assert (str(deal.buyer.id), "payment.held") in notices
    assert (str(deal.seller.id), "payment.held") in notices
    rooms = [(j["room"], j["event"]) for j in await jobs(db, lifecycle.REALTIME_JOB)]
    assert (f"payment:{deal.payment_id}", "payment:updated") in rooms


async def test_short_funding_is_partially_paid_until_topped_up(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="100")
    payment = await fund_payment(deal.payment_id, "40")
    assert (payment.status, payment.amount_paid) == (status.PARTIALLY_PAID, Decimal("40"))
    assert (await get_request(db, deal.request_id)).status == "accepted"
    payment = await fund_payment(deal.payment_id, "25")
    assert (payment.status, payment.amount_paid) == (status.PARTIALLY_PAID, Decimal("65"))
    payment = await fund_payment(deal.payment_id, "35")
    assert (payment.status, payment.amount_paid) == (status.HELD, Decimal("100"))
    assert await events(db, deal) == [
        ("pending", "partially_paid", "chain.confirmed"),
        ("partially_paid", "held", "chain.confirmed"),
    ]


async def test_overpaid_release_refunds_the_excess_to_the_buyer(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment, deliver: Deliver
) -> None:
    deal = await make_deal(price="100")
    payment = await fund_payment(deal.payment_id, "130.5")
    assert payment.status == status.HELD and payment.overpaid
    await deliver(deal)
    async with db.transaction() as session:
        await escrow.release(
            session,
            deal.payment_id,
            actor_id=deal.buyer.id,
            key="k1",
            now=utcnow(),
            settings=db.settings,
            cause="buyer.confirmed_delivery",
        )
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.RELEASED and payment.settled_at is not None
    assert await ledger_kinds(db, deal) == ["fund", "release", "refund"]
    async with db.session(False) as session:
        assert await ledger.held(session, payment) == 0
        outs = (await session.execute(sa.select(Payout).order_by(Payout.kind))).scalars().all()
    # Fee 2.5 % of 100 = 2.5: the seller is owed 97.5, the buyer the 30.5 excess.
    assert [(p.kind, p.amount, p.recipient_id) for p in outs] == [
        ("refund", Decimal("30.5"), deal.buyer.id),
        ("release", Decimal("97.5"), deal.seller.id),
    ]
    assert (await get_request(db, deal.request_id)).status == "completed"


async def test_release_needs_a_held_payment_and_refund_a_held_one(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="10")
    await fund_payment(deal.payment_id, "4")
    common: dict[str, Any] = {"key": "k", "now": utcnow(), "settings": db.settings}
    async with db.transaction() as session:
        with pytest.raises(PaymentNotHeld):
            await escrow.release(session, deal.payment_id, actor_id=None, cause="t", **common)
        with pytest.raises(PaymentNotRefundable):
            await escrow.refund(session, deal.payment_id, actor_id=None, cause="t", **common)
    assert (await get_payment(db, deal.payment_id)).status == status.PARTIALLY_PAID


async def test_refund_of_a_held_payment_refunds_the_request(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="50")
    await fund_payment(deal.payment_id)
    async with db.transaction() as session:
        await escrow.refund(
            session,
            deal.payment_id,
            actor_id=deal.seller.id,
            key="r",
            now=utcnow(),
            settings=db.settings,
            cause="seller.refund",
            reason="Out of stock",
        )
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.REFUNDED
    assert (await get_request(db, deal.request_id)).status == "refunded"
    async with db.session(False) as session:
        assert await ledger.held(session, payment) == 0
        outs = (await session.execute(sa.select(Payout))).scalars().all()
    assert [(p.kind, p.amount, p.to_address) for p in outs] == [
        ("refund", Decimal("50"), payment.sender_address)
    ]


async def test_moves_off_the_table_are_refused_and_change_nothing(
    db: Database, make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    async with db.transaction() as session:
        payment, _ = await escrow.lock(session, deal.payment_id)
        with pytest.raises(InvalidStateTransition):
            await lifecycle.move(session, payment, status.RELEASED, cause="t", now=utcnow())
    assert (await get_payment(db, deal.payment_id)).status == status.PENDING
    assert await events(db, deal) == []


async def test_a_stale_status_loses_the_compare_and_set(db: Database, make_deal: MakeDeal) -> None:
    deal = await make_deal()
    async with db.transaction() as session:
        payment, _ = await escrow.lock(session, deal.payment_id)
        await lifecycle.move(session, payment, status.CONFIRMING, cause="chain.seen", now=utcnow())
        # A second mover that read `pending` before: its compare-and-set finds no row.
        from sqlalchemy.orm.attributes import set_committed_value

        set_committed_value(payment, "status", status.PENDING)
        with pytest.raises(InvalidStateTransition):
            await lifecycle.move(session, payment, status.CONFIRMING, cause="again", now=utcnow())
    assert await events(db, deal) == [("pending", "confirming", "chain.seen")]


async def test_funds_after_the_payment_expired_wait_for_review(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    """The request lapsed back to open (its payment expired); money then arrives: it is
    paid late, held for a guard, and refunding it is possible."""
    from bazaar.marketplace import jobs as marketplace_jobs

    deal = await make_deal(price="20")
    later = utcnow() + timedelta(days=3)
    async with db.transaction() as session:
        assert await marketplace_jobs.lapse_funding_windows(session, later) == 1
    assert (await get_payment(db, deal.payment_id)).status == status.EXPIRED
    payment = await fund_payment(deal.payment_id, "20", now=later)
    assert payment.status == status.AWAITING_REVIEW
    assert payment.paid_late and payment.review_reason
    async with db.transaction() as session:
        await escrow.refund(
            session,
            deal.payment_id,
            actor_id=None,
            key="late",
            now=later,
            settings=db.settings,
            cause="guard.reject",
        )
    assert (await get_payment(db, deal.payment_id)).status == status.REFUNDED
    assert (await get_request(db, deal.request_id)).status == "open"


async def test_late_funds_on_a_request_still_accepted_hold_it(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment
) -> None:
    deal = await make_deal(price="20")
    later = utcnow() + timedelta(days=3)  # past the funding deadline, before the sweep
    payment = await fund_payment(deal.payment_id, now=later)
    assert payment.status == status.HELD and payment.paid_late
    assert (await get_request(db, deal.request_id)).status == "funded"


async def test_release_records_the_fee_actually_taken(
    db: Database, make_deal: MakeDeal, fund_payment: FundPayment, deliver: Deliver
) -> None:
    """2.5 % of 33.333333 USDC is 0.833333325: quoted exactly, taken rounded down to the
    token's 6 decimals; the seller gets the rest, and the two sum to the price."""
    deal = await make_deal(price="33.333333")
    assert (await get_payment(db, deal.payment_id)).platform_fee == Decimal("0.833333325")
    await fund_payment(deal.payment_id)
    await deliver(deal)
    async with db.transaction() as session:
        await escrow.release(
            session,
            deal.payment_id,
            actor_id=None,
            key="fee",
            now=utcnow(),
            settings=db.settings,
            cause="timer.inspection",
        )
    payment = await get_payment(db, deal.payment_id)
    assert payment.platform_fee == Decimal("0.833333")
    async with db.session(False) as session:
        [payout] = (await session.execute(sa.select(Payout))).scalars().all()
    assert payout.amount == Decimal("32.5")
    assert payout.amount + payment.platform_fee == Decimal("33.333333")


async def test_a_payment_held_for_review_and_refunded_reopens_its_request(
    db: Database, make_deal: MakeDeal
) -> None:
    """A safety rule (here the per-payment limit) holds the funded payment for a guard;
    refunding it gives the money back and the request takes offers again."""
    strict = db.settings.model_copy(update={"transaction_safety_max_payment": {"*": Decimal(1)}})
    deal = await make_deal(price="50")
    now = utcnow()
    async with db.transaction() as session:
        payment, _ = await escrow.lock(session, deal.payment_id)
        await ledger.fund(session, payment, Decimal(50), key="f", cause="t", now=now)
        payment.amount_paid = Decimal(50)
        payment.sender_address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        await escrow.on_funds_confirmed(session, payment, now=now, settings=strict)
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.AWAITING_REVIEW and payment.review_reason
    assert (await get_request(db, deal.request_id)).status == "accepted"
    async with db.transaction() as session:
        await escrow.refund(
            session,
            deal.payment_id,
            actor_id=None,
            key="review",
            now=now,
            settings=strict,
            cause="guard.reject",
            reason="Over the per-payment limit",
        )
    assert (await get_payment(db, deal.payment_id)).status == status.REFUNDED
    request = await get_request(db, deal.request_id)
    assert (request.status, request.accepted_offer_id) == ("open", None)
    async with db.session(False) as session:
        assert await ledger.held(session, payment) == 0
