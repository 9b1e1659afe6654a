"""Each ledger movement on its own: exact amounts in 6- and 18-decimal tokens, the fee
rounded down, splits that sum exactly, idempotency by key, and the refusals."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerEntry, LedgerTransaction, Payment, Payout
from bazaar.payments import ledger
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.verify import verify
from tests.payments.ledger.helpers import (
    DAI,
    USDC,
    count_kind,
    funded_payment,
    held,
    make_payment,
    set_status,
)


async def entries(db: Database, tx_id: uuid.UUID) -> dict[str, Decimal]:
    """The transaction's entries by account kind."""
    async with db.reading() as session:
        rows = await session.execute(
            sa.select(accounts_kind(), LedgerEntry.amount)
            .join_from(LedgerEntry, accounts_table())
            .where(LedgerEntry.transaction_id == tx_id)
        )
        return {kind: amount for kind, amount in rows}


def accounts_table() -> type:
    from bazaar.models import LedgerAccount

    return LedgerAccount


def accounts_kind() -> sa.ColumnElement[str]:
    from bazaar.models import LedgerAccount

    return LedgerAccount.kind


async def assert_verified(db: Database) -> None:
    async with db.reading() as session:
        report = await verify(session)
    assert report.ok, [(c.name, c.breaches) for c in report.checks if not c.ok]


@pytest.mark.parametrize(
    ("token", "amount", "percent", "fee"),
    [
        (USDC, "100", "2.5", "2.5"),
        (USDC, "0.000039", "2.5", "0"),  # 0.000000975 → down to 0 (USDC has 6 places)
        (USDC, "33.333333", "2.5", "0.833333"),  # 0.833333325 → 0.833333
        (USDC, "10", "0", "0"),
        (DAI, "33.333333333333333333", "2.5", "0.833333333333333333"),
        (DAI, "0.000000000000000039", "2.5", "0"),
        (DAI, "1000000000.000000000000000001", "1.75", "17500000"),
    ],
)
async def test_release_takes_the_fee_rounded_down(
    db: Database, token: tuple[str, int, str, int], amount: str, percent: str, fee: str
) -> None:
    payment = await funded_payment(db, Decimal(amount), token=token)
    async with db.transaction() as session:
        tx = await ledger.release(
            session, payment, fee_percent=percent, key="rel-1", cause="test", now=utcnow()
        )
    got = await entries(db, tx.id)
    assert got[accounts.ESCROW_HELD] == -Decimal(amount)
    assert got.get(accounts.PLATFORM_FEES, Decimal(0)) == Decimal(fee)
    assert got[accounts.SELLER_PAYABLE] == Decimal(amount) - Decimal(fee)
    assert await held(db, payment) == 0
    await assert_verified(db)


async def test_partial_releases_then_refund_of_what_remains(db: Database) -> None:
    payment = await funded_payment(db, Decimal("100.000001"))
    now = utcnow()
    async with db.transaction() as session:
        first = await ledger.release(
            session, payment, Decimal("40"), fee_percent="2.5", key="r1", cause="t", now=now
        )
        await ledger.release(
            session, payment, Decimal("0.000001"), fee_percent="2.5", key="r2", cause="t", now=now
        )
    assert (await entries(db, first.id))[accounts.PLATFORM_FEES] == Decimal(1)
    assert await held(db, payment) == Decimal("60")
    async with db.transaction() as session:
        back = await ledger.refund(session, payment, key="f1", cause="t", now=now)
    assert (await entries(db, back.id))[accounts.BUYER_REFUNDABLE] == Decimal("60")
    assert await held(db, payment) == 0
    async with db.reading() as session:
        assert await ledger.owed(
            session, accounts.SELLER_PAYABLE, payment.seller_id, accounts.asset_of(payment)
        ) == Decimal("39.000001")
    await assert_verified(db)


@pytest.mark.parametrize(
    ("token", "amount", "buyer_percent", "buyer", "seller", "fee"),
    [
        (USDC, "100", "50", "50", "48.75", "1.25"),
        # 33.333333 × 33.3333333333% = 11.1111109999… → 11.111110 (down); the seller side
        # is the rest, 22.222223, and its fee 0.555555575 → 0.555555 (down)
        (USDC, "33.333333", "33.3333333333", "11.11111", "21.666668", "0.555555"),
        (USDC, "0.000001", "50", "0", "0.000001", "0"),
        (USDC, "10", "100", "10", "0", "0"),
        (USDC, "10", "0", "0", "9.75", "0.25"),
        (DAI, "1", "33.3", "0.333", "0.650325", "0.016675"),
        (
            DAI,
            "0.000000000000000007",
            "50",
            "0.000000000000000003",
            "0.000000000000000004",
            "0",
        ),
    ],
)
async def test_split_sums_exactly(
    db: Database,
    token: tuple[str, int, str, int],
    amount: str,
    buyer_percent: str,
    buyer: str,
    seller: str,
    fee: str,
) -> None:
    payment = await funded_payment(db, Decimal(amount), token=token)
    async with db.transaction() as session:
        tx = await ledger.split(
            session,
            payment,
            buyer_percent,
            fee_percent="2.5",
            key="split",
            cause="dispute",
            now=utcnow(),
        )
    got = await entries(db, tx.id)
    assert got.get(accounts.BUYER_REFUNDABLE, Decimal(0)) == Decimal(buyer)
    assert got.get(accounts.SELLER_PAYABLE, Decimal(0)) == Decimal(seller)
    assert got.get(accounts.PLATFORM_FEES, Decimal(0)) == Decimal(fee)
    assert Decimal(buyer) + Decimal(seller) + Decimal(fee) == Decimal(amount)
    await assert_verified(db)


async def test_same_key_posts_once_and_another_movement_is_refused(db: Database) -> None:
    payment = await make_payment(db, status="confirming")
    now = utcnow()
    async with db.transaction() as session:
        one = await ledger.fund(session, payment, Decimal("60"), key="tx:1", cause="c", now=now)
        again = await ledger.fund(session, payment, Decimal("60"), key="tx:1", cause="c", now=now)
    async with db.transaction() as session:
        later = await ledger.fund(session, payment, Decimal("60"), key="tx:1", cause="c", now=now)
    assert one.id == again.id == later.id
    assert await held(db, payment) == Decimal("60")
    async with db.transaction() as session:
        with pytest.raises(ledger.LedgerKeyReused):
            await ledger.fund(session, payment, Decimal("61"), key="tx:1", cause="c", now=now)
    async with db.transaction() as session:
        with pytest.raises(ledger.LedgerKeyReused):
            await ledger.refund(session, payment, key="tx:1", cause="c", now=now)
    async with db.transaction() as session:
        first = await ledger.release(
            session, payment, fee_percent="2.5", key="r", cause="c", now=now
        )
    await set_status_committed(db, payment.id, "released")
    async with db.transaction() as session:
        # Status terminal and nothing held, yet the same release asked again is answered.
        repeat = await ledger.release(
            session, payment, fee_percent="2.5", key="r", cause="c", now=now
        )
    assert repeat.id == first.id
    assert await count_kind(db, "release", payment.id) == 1
    await assert_verified(db)


async def set_status_committed(db: Database, payment_id: uuid.UUID, status: str) -> None:
    async with db.transaction() as session:
        await set_status(session, payment_id, status)


@pytest.mark.parametrize("state", ["released", "refunded", "split", "expired", "cancelled"])
async def test_terminal_payment_refuses_every_move(db: Database, state: str) -> None:
    payment = await funded_payment(db, Decimal("10"))
    await set_status_committed(db, payment.id, state)
    now = utcnow()
    async with db.transaction() as session:
        with pytest.raises(ledger.PaymentTerminal):
            await ledger.release(session, payment, fee_percent="1", key="a", cause="c", now=now)
        with pytest.raises(ledger.PaymentTerminal):
            await ledger.refund(session, payment, key="b", cause="c", now=now)
        with pytest.raises(ledger.PaymentTerminal):
            await ledger.split(session, payment, 50, fee_percent="1", key="d", cause="c", now=now)
    assert await held(db, payment) == Decimal("10")


async def test_more_than_held_is_refused(db: Database) -> None:
    payment = await funded_payment(db, Decimal("10"))
    now = utcnow()
    async with db.transaction() as session:
        with pytest.raises(ledger.InsufficientHeldFunds):
            await ledger.release(
                session, payment, Decimal("10.000001"), fee_percent="1", key="a", cause="c", now=now
            )
        with pytest.raises(ledger.InsufficientHeldFunds):
            await ledger.refund(session, payment, Decimal("11"), key="b", cause="c", now=now)
    empty = await make_payment(db)
    async with db.transaction() as session:
        with pytest.raises(ledger.InsufficientHeldFunds):
            await ledger.release(session, empty, fee_percent="1", key="e", cause="c", now=now)
    assert await count_kind(db, "release") == 0


@pytest.mark.parametrize("amount", ["0", "-1", "0.0000001"])
async def test_amounts_outside_the_token_are_refused(db: Database, amount: str) -> None:
    payment = await funded_payment(db, Decimal("10"))
    async with db.transaction() as session:
        with pytest.raises(ledger.InvalidLedgerAmount):
            await ledger.release(
                session, payment, Decimal(amount), fee_percent="1", key="a", cause="c", now=utcnow()
            )


async def test_legacy_payment_without_enforcement_is_backfilled_and_logged(db: Database) -> None:
    """PAYMENT_LEDGER_ENFORCEMENT=false: a payment older than the ledger (no history) is
    funded for what it lacks first; with enforcement the same move is refused."""
    payment = await make_payment(db, amount=Decimal("80"))
    now = utcnow()
    async with db.transaction() as session:
        with pytest.raises(ledger.InsufficientHeldFunds):
            await ledger.release(session, payment, fee_percent="2.5", key="old", cause="c", now=now)
    with capture_logs() as logs:
        async with db.transaction() as session:
            tx = await ledger.release(
                session,
                payment,
                fee_percent="2.5",
                key="old",
                cause="legacy.migrate",
                now=now,
                enforcement=False,
            )
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["ledger_legacy_backfill"]
    assert (await entries(db, tx.id))[accounts.SELLER_PAYABLE] == Decimal("78")
    async with db.reading() as session:
        causes = list(
            await session.scalars(
                sa.select(LedgerTransaction.cause)
                .where(LedgerTransaction.payment_id == payment.id)
                .order_by(LedgerTransaction.kind)
            )
        )
    assert causes == ["legacy.backfill", "legacy.migrate"]
    await assert_verified(db)
    # A payment that has ledger history is never backfilled, enforcement or not.
    funded = await funded_payment(db, Decimal("5"))
    async with db.transaction() as session:
        with pytest.raises(ledger.InsufficientHeldFunds):
            await ledger.refund(
                session, funded, Decimal("6"), key="x", cause="c", now=now, enforcement=False
            )


async def seller_payout(
    session: AsyncSession, payment: Payment, amount: Decimal, *, now: datetime, **columns: Any
) -> Payout:
    """A USDC (6 decimals) payout of `amount` to the seller, added and flushed."""
    payout = Payout(
        payment_id=payment.id,
        kind="release",
        recipient_id=payment.seller_id,
        to_address="0x" + "11" * 20,
        chain_id=1,
        token_contract=USDC[2],
        currency="USDC",
        amount=amount,
        amount_base_units=str(int(amount.scaleb(6))),
        created_at=now,
        **columns,
    )
    session.add(payout)
    await session.flush()
    return payout


async def test_payout_pays_what_is_owed_once(db: Database) -> None:
    payment = await funded_payment(db, Decimal("100"))
    now = utcnow()
    async with db.transaction() as session:
        release = await ledger.release(
            session, payment, fee_percent="2.5", key="r", cause="c", now=now
        )
        payout = await seller_payout(
            session,
            payment,
            Decimal("97.5"),
            now=now,
            status="done",
            ledger_transaction_id=release.id,
        )
        paid = await ledger.payout(session, payout, key="p", cause="payout.done", now=now)
        again = await ledger.payout(session, payout, key="p2", cause="payout.done", now=now)
    assert paid.id == again.id
    async with db.reading() as session:
        owed = await ledger.owed(
            session, accounts.SELLER_PAYABLE, payment.seller_id, accounts.asset_of(payment)
        )
    assert owed == 0
    await assert_verified(db)
    async with db.transaction() as session:
        bigger = await seller_payout(session, payment, Decimal("0.000001"), now=now)
        with pytest.raises(ledger.InsufficientBalance):
            await ledger.payout(session, bigger, key="p3", cause="c", now=now)


async def test_reversal_undoes_a_fund_once(db: Database) -> None:
    payment = await make_payment(db, status="confirming")
    now = utcnow()
    async with db.transaction() as session:
        fund = await ledger.fund(session, payment, Decimal("7"), key="f", cause="chain", now=now)
    async with db.transaction() as session:
        back = await ledger.reverse(session, fund.id, key="rev", cause="chain.reorg", now=now)
        same = await ledger.reverse(session, fund.id, key="rev", cause="chain.reorg", now=now)
    assert back.id == same.id and back.reverses_id == fund.id
    assert await held(db, payment) == 0
    async with db.transaction() as session:
        with pytest.raises(ledger.AlreadyReversed):
            await ledger.reverse(session, fund.id, key="rev2", cause="c", now=now)
        with pytest.raises(ledger.NotReversible):
            await ledger.reverse(session, back.id, key="rev3", cause="c", now=now)
    await assert_verified(db)
    # A fund whose money has been released cannot be reversed: the escrow would go negative.
    other = await funded_payment(db, Decimal("3"))
    async with db.transaction() as session:
        await ledger.release(session, other, fee_percent="0", key="r", cause="c", now=now)
    async with db.reading() as session:
        fund_id = await session.scalar(
            sa.select(LedgerTransaction.id).where(
                LedgerTransaction.payment_id == other.id, LedgerTransaction.kind == "fund"
            )
        )
    assert fund_id is not None
    async with db.transaction() as session:
        with pytest.raises(ledger.InsufficientBalance):
            await ledger.reverse(session, fund_id, key="rev4", cause="c", now=now)


async def test_fund_refuses_a_settled_payment_but_takes_a_late_one(db: Database) -> None:
    settled = await make_payment(db, status="released")
    late = await make_payment(db, status="expired")
    now = utcnow()
    async with db.transaction() as session:
        with pytest.raises(ledger.PaymentTerminal):
            await ledger.fund(session, settled, Decimal("1"), key="a", cause="c", now=now)
        await ledger.fund(session, late, Decimal("1"), key="b", cause="c", now=now)
    assert await held(db, late) == Decimal(1)


async def test_two_tokens_two_chains_never_mix(db: Database) -> None:
    """Accounts are per asset: one seller paid in USDC and DAI has two payable accounts,
    and the platform's fees are kept per token too."""
    usdc = await funded_payment(db, Decimal("10"), token=USDC)
    dai = await funded_payment(db, Decimal("10"), token=DAI, seller_id=usdc.seller_id)
    now = utcnow()
    async with db.transaction() as session:
        await ledger.release(session, usdc, fee_percent="10", key="u", cause="c", now=now)
        await ledger.release(session, dai, fee_percent="10", key="d", cause="c", now=now)
    async with db.reading() as session:
        for payment in (usdc, dai):
            assert await ledger.owed(
                session, accounts.SELLER_PAYABLE, usdc.seller_id, accounts.asset_of(payment)
            ) == Decimal(9)
    assert accounts.asset_of(usdc) == f"USDC:1:{USDC[2]}"
    await assert_verified(db)


async def test_locking_again_keeps_what_the_transaction_changed(db: Database) -> None:
    """A second lock in the same transaction (the chain locks, then a movement does) hands
    back the locked object: a change not flushed yet survives; a new transaction reads the
    row afresh."""
    payment = await funded_payment(db, Decimal("10"))
    async with db.transaction() as session:
        locked = await ledger.lock_payment(session, payment.id)
        locked.amount_paid = Decimal("10")
        again = await ledger.lock_payment(session, payment.id)
        assert again is locked and again.amount_paid == Decimal("10")
        await ledger.release(session, payment, fee_percent="0", key="r", cause="c", now=utcnow())
        assert locked.amount_paid == Decimal("10")
    async with db.transaction() as session:
        fresh = await ledger.lock_payment(session, payment.id)
        assert fresh is not locked and fresh.amount_paid == Decimal("10")
