"""Money moves at most once under concurrency, on SQLite and PostgreSQL: each caller in its
own transaction, lined up on PostgreSQL at the payment lock (tests/marketplace/lineup.py) so
every one of them has started before any takes the lock."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal

import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerAccount, LedgerTransaction
from bazaar.payments import ledger
from bazaar.payments.ledger.verify import verify
from tests.marketplace.lineup import Lineup
from tests.payments.ledger.helpers import (
    add_payment,
    count_kind,
    funded_payment,
    held,
    set_status,
)


def at_payment_lock(sql: str) -> bool:
    return sql.lstrip().startswith("SELECT") and "FROM payments" in sql and "FOR UPDATE" in sql


def parties(db: Database, wanted: int) -> int:
    # A caller waiting for a pool connection can never arrive at the lineup.
    return min(wanted, db.settings.db_write_pool_size)


async def race(
    db: Database, n: int, work: Callable[[int], Awaitable[object]], at: Callable[[str], bool]
) -> list[object]:
    async with Lineup(db, parties=parties(db, n), at=at):
        return list(await asyncio.gather(*(work(i) for i in range(n)), return_exceptions=True))


def kinds(results: list[object]) -> Counter[str]:
    return Counter(type(r).__name__ for r in results)


async def assert_verified(db: Database) -> None:
    async with db.reading() as session:
        report = await verify(session)
    assert report.ok, [(c.name, c.breaches) for c in report.checks if not c.ok]


async def test_fifty_concurrent_releases_post_one(db: Database) -> None:
    payment = await funded_payment(db, Decimal("250"))

    async def release(i: int) -> LedgerTransaction:
        async with db.transaction() as session:
            tx = await ledger.release(
                session, payment, fee_percent="2.5", key=f"release:{i}", cause="t", now=utcnow()
            )
            # What the lifecycle does in the same transaction.
            await set_status(session, payment.id, "released")
            return tx

    results = await race(db, 50, release, at_payment_lock)
    outcome = kinds(results)
    assert outcome["LedgerTransaction"] == 1, outcome
    assert outcome["PaymentTerminal"] + outcome["InsufficientHeldFunds"] == 49, outcome
    assert await count_kind(db, "release", payment.id) == 1
    assert await held(db, payment) == 0
    await assert_verified(db)


async def test_fifty_concurrent_partial_releases_never_overdraw(db: Database) -> None:
    """The check (held ≥ amount) and the posting happen under one lock: of 50 callers each
    releasing 1 from an escrow of 10, exactly 10 succeed."""
    payment = await funded_payment(db, Decimal("10"))

    async def release(i: int) -> LedgerTransaction:
        async with db.transaction() as session:
            return await ledger.release(
                session,
                payment,
                Decimal(1),
                fee_percent="2.5",
                key=f"r:{i}",
                cause="t",
                now=utcnow(),
            )

    outcome = kinds(await race(db, 50, release, at_payment_lock))
    assert outcome == Counter({"LedgerTransaction": 10, "InsufficientHeldFunds": 40}), outcome
    assert await held(db, payment) == 0
    await assert_verified(db)


async def test_release_racing_refund_has_one_outcome(db: Database) -> None:
    payments = [await funded_payment(db, Decimal("40")) for _ in range(6)]

    async def move(i: int) -> str:
        payment = payments[i // 2]
        async with db.transaction() as session:
            if i % 2:
                await ledger.refund(session, payment, key=f"refund:{i}", cause="t", now=utcnow())
                await set_status(session, payment.id, "refunded")
                return "refunded"
            await ledger.release(
                session, payment, fee_percent="1", key=f"release:{i}", cause="t", now=utcnow()
            )
            await set_status(session, payment.id, "released")
            return "released"

    results = await race(db, 12, move, at_payment_lock)
    for n, payment in enumerate(payments):
        pair = results[2 * n : 2 * n + 2]
        winners = [r for r in pair if isinstance(r, str)]
        losers = [
            r for r in pair if isinstance(r, ledger.PaymentTerminal | ledger.InsufficientHeldFunds)
        ]
        assert len(winners) == 1 and len(losers) == 1, pair
        moved = await count_kind(db, "release", payment.id) + await count_kind(
            db, "refund", payment.id
        )
        assert moved == 1
        assert await held(db, payment) == 0
    await assert_verified(db)


async def test_twenty_duplicates_with_one_key_post_once(db: Database) -> None:
    payment = await funded_payment(db, Decimal("12.5"))

    async def release(_: int) -> uuid.UUID:
        async with db.transaction() as session:
            tx = await ledger.release(
                session, payment, fee_percent="2.5", key="one-key", cause="t", now=utcnow()
            )
            return tx.id

    results = await race(db, 20, release, at_payment_lock)
    assert all(isinstance(r, uuid.UUID) for r in results), kinds(results)
    assert len(set(results)) == 1
    assert await count_kind(db, "release", payment.id) == 1
    await assert_verified(db)


async def test_accounts_created_concurrently_exist_once(db: Database) -> None:
    """Twenty payments of one seller funded, then released, at once: the shared accounts
    (external, the seller's payable, the platform's fees) are each created exactly once."""
    async with db.transaction() as session:
        first = await add_payment(session, status="confirming")
        payments = [first] + [
            await add_payment(
                session, status="confirming", buyer_id=first.buyer_id, seller_id=first.seller_id
            )
            for _ in range(19)
        ]

    def at_account_insert(sql: str) -> bool:
        return sql.lstrip().startswith("INSERT INTO ledger_accounts")

    async def fund(i: int) -> object:
        async with db.transaction() as session:
            return await ledger.fund(
                session, payments[i], Decimal("5"), key=f"f:{i}", cause="t", now=utcnow()
            )

    async def release(i: int) -> object:
        async with db.transaction() as session:
            return await ledger.release(
                session, payments[i], fee_percent="2", key=f"r:{i}", cause="t", now=utcnow()
            )

    for work in (fund, release):
        outcome = kinds(await race(db, 20, work, at_account_insert))
        assert outcome == Counter({"LedgerTransaction": 20}), outcome
    async with db.reading() as session:
        rows = await session.execute(
            sa.select(LedgerAccount.kind, sa.func.count()).group_by(LedgerAccount.kind)
        )
        per_kind = dict(rows.tuples().all())
    assert per_kind == {
        "external": 1,
        "escrow_held": 20,
        "seller_payable": 1,
        "platform_fees": 1,
    }
    async with db.reading() as session:
        owed = await ledger.owed(session, "seller_payable", first.seller_id, ledger.asset_of(first))
    assert owed == Decimal("98")  # 20 × (5 − 2 %)
    await assert_verified(db)
