"""What stands behind the posting function: on PostgreSQL the database refuses changes to
ledger rows and an unbalanced transaction at COMMIT (migration 0010); on both databases
`ledger verify` names every breach planted behind the ledger's back, and
`bazaar ledger verify` exits non-zero on one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Payout
from bazaar.payments import ledger
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.verify import Report, verify
from tests.conftest import truncate_all
from tests.payments.ledger.helpers import USDC, funded_payment

pg_only = pytest.mark.skipif(
    os.environ.get("BAZAAR_TEST_BACKEND", "sqlite") != "postgresql",
    reason="the triggers exist on PostgreSQL only; SQLite relies on posting and verify",
)


async def fund_entries(db: Database, payment: Payment) -> dict[str, LedgerEntry]:
    async with db.reading() as session:
        rows = await session.execute(
            sa.select(LedgerAccount.kind, LedgerEntry)
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerTransaction.payment_id == payment.id)
        )
        return {kind: entry for kind, entry in rows}


async def raw_transaction(
    session: sa.ext.asyncio.AsyncSession,
    payment_id: uuid.UUID,
    legs: list[tuple[uuid.UUID, str, Decimal]],
) -> uuid.UUID:
    """A ledger transaction inserted with plain INSERTs, not through the ledger."""
    tx_id = uuid.uuid4()
    now = utcnow()
    await session.execute(
        sa.insert(LedgerTransaction).values(
            id=tx_id,
            kind="fund",
            payment_id=payment_id,
            idempotency_key=f"raw:{tx_id}",
            cause="raw",
            meta={},
            created_at=now,
        )
    )
    for account_id, asset, amount in legs:
        await session.execute(
            sa.insert(LedgerEntry).values(
                id=uuid.uuid4(),
                transaction_id=tx_id,
                account_id=account_id,
                asset=asset,
                amount=amount,
                created_at=now,
            )
        )
    return tx_id


# --- PostgreSQL triggers -------------------------------------------------------------


@pg_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET cause = 'edited'",
        "DELETE FROM ledger_transactions",
    ],
)
async def test_postgres_refuses_changing_ledger_rows(db: Database, statement: str) -> None:
    payment = await funded_payment(db, Decimal("5"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.transaction() as session:
            await session.execute(sa.text(statement))
    entries = await fund_entries(db, payment)
    assert entries[accounts.ESCROW_HELD].amount == Decimal("5")


@pg_only
@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((Decimal("5"), Decimal("-4")), "does not balance"),
        ((Decimal("0"),), "fewer than two entries"),
        ((), "fewer than two entries"),
    ],
)
async def test_postgres_refuses_an_unbalanced_transaction_at_commit(
    db: Database, amounts: tuple[Decimal, ...], message: str
) -> None:
    payment = await funded_payment(db, Decimal("5"))
    entries = await fund_entries(db, payment)
    targets = [entries[accounts.ESCROW_HELD], entries[accounts.EXTERNAL]]
    legs = [(t.account_id, t.asset, a) for t, a in zip(targets, amounts, strict=False)]
    session = db.session()
    try:
        # Every INSERT goes through: the check is deferred to COMMIT.
        tx_id = await raw_transaction(session, payment.id, legs)
        with pytest.raises(DBAPIError, match=message):
            await session.commit()
    finally:
        await session.close()
    async with db.reading() as reader:
        assert await reader.get(LedgerTransaction, tx_id) is None
        assert await ledger.held(reader, payment) == Decimal("5")


@pg_only
async def test_postgres_refuses_an_entry_added_later_to_a_committed_transaction(
    db: Database,
) -> None:
    payment = await funded_payment(db, Decimal("5"))
    escrow = (await fund_entries(db, payment))[accounts.ESCROW_HELD]
    session = db.session()
    try:
        await session.execute(
            sa.insert(LedgerEntry).values(
                id=uuid.uuid4(),
                transaction_id=escrow.transaction_id,
                account_id=escrow.account_id,
                asset=escrow.asset,
                amount=Decimal(1),
                created_at=utcnow(),
            )
        )
        with pytest.raises(DBAPIError, match="does not balance"):
            await session.commit()
    finally:
        await session.close()
    async with db.reading() as reader:
        assert await ledger.held(reader, payment) == Decimal("5")


@pg_only
async def test_postgres_takes_a_balanced_raw_transaction(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    entries = await fund_entries(db, payment)
    escrow, external = entries[accounts.ESCROW_HELD], entries[accounts.EXTERNAL]
    async with db.transaction() as session:
        await raw_transaction(
            session,
            payment.id,
            [
                (escrow.account_id, escrow.asset, Decimal(1)),
                (external.account_id, escrow.asset, Decimal(-1)),
            ],
        )
    async with db.reading() as reader:
        assert await ledger.held(reader, payment) == Decimal("6")


async def test_tables_still_empty_between_tests(db: Database) -> None:
    """The suite's cleanup (TRUNCATE on PostgreSQL, DELETE on SQLite) empties the ledger,
    reversals included: the append-only triggers do not fire on TRUNCATE."""
    payment = await funded_payment(db, Decimal("5"))
    async with db.transaction() as session:
        fund_id = await session.scalar(sa.select(LedgerTransaction.id))
        assert fund_id is not None
        await ledger.reverse(session, fund_id, key="rev", cause="t", now=utcnow())
    await truncate_all(db)
    async with db.reading() as session:
        for model in (LedgerEntry, LedgerTransaction, LedgerAccount, Payment):
            assert await session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert payment.id


# --- verify: breaches planted with raw SQL -----------------------------------------------


async def plant(db: Database, *statements: sa.Executable) -> None:
    """Run `statements` behind the ledger's back (on PostgreSQL with its triggers off for
    this transaction only)."""
    async with db.transaction() as session:
        if db.backend == "postgresql":
            await session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await session.execute(statement)


async def report(db: Database) -> Report:
    async with db.reading() as session:
        return await verify(session)


def failing(result: Report) -> set[str]:
    return {c.name for c in result.checks if not c.ok}


async def test_a_clean_ledger_verifies(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    async with db.transaction() as session:
        await ledger.release(session, payment, fee_percent="2.5", key="r", cause="t", now=utcnow())
    result = await report(db)
    assert result.ok and result.transactions == 2 and result.entries == 5


async def test_verify_names_an_unbalanced_transaction(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    escrow = (await fund_entries(db, payment))[accounts.ESCROW_HELD]
    await plant(
        db, sa.update(LedgerEntry).where(LedgerEntry.id == escrow.id).values(amount=Decimal(6))
    )
    result = await report(db)
    assert "balanced" in failing(result)
    assert "sums to 1" in result.check("balanced").breaches[0]


async def test_verify_names_a_transaction_with_one_entry(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    external = (await fund_entries(db, payment))[accounts.EXTERNAL]
    await plant(db, sa.delete(LedgerEntry).where(LedgerEntry.id == external.id))
    assert "balanced" in failing(await report(db))


async def test_verify_names_a_negative_account(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    entries = await fund_entries(db, payment)
    escrow, external = entries[accounts.ESCROW_HELD], entries[accounts.EXTERNAL]
    async with db.transaction() as session:
        if db.backend == "postgresql":
            await session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await raw_transaction(
            session,
            payment.id,
            [
                (escrow.account_id, escrow.asset, Decimal(-9)),
                (external.account_id, escrow.asset, Decimal(9)),
            ],
        )
    result = await report(db)
    assert "not_negative" in failing(result) and "held" in failing(result)


async def test_verify_names_an_entry_in_the_wrong_asset(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    await plant(
        db,
        sa.update(LedgerEntry)
        .where(
            LedgerEntry.transaction_id.in_(
                sa.select(LedgerTransaction.id).where(LedgerTransaction.payment_id == payment.id)
            )
        )
        .values(asset="DAI:1:0x6B175474E89094C44Da98b954EedeAC495271d0F"),
    )
    result = await report(db)
    assert failing(result) == {"assets"}


async def test_verify_names_an_escrow_moved_by_another_payment(db: Database) -> None:
    one = await funded_payment(db, Decimal("5"))
    other = await funded_payment(db, Decimal("5"))
    escrow = (await fund_entries(db, one))[accounts.ESCROW_HELD]
    external = (await fund_entries(db, other))[accounts.EXTERNAL]
    async with db.transaction() as session:
        # Balanced and non-negative, so PostgreSQL takes it: only verify sees it.
        await raw_transaction(
            session,
            other.id,
            [
                (escrow.account_id, escrow.asset, Decimal(-2)),
                (external.account_id, escrow.asset, Decimal(2)),
            ],
        )
    result = await report(db)
    assert failing(result) == {"held"}
    assert "moved by a transaction of" in result.check("held").breaches[0]


async def test_verify_names_a_settled_payment_still_holding(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    await plant(db, sa.update(Payment).where(Payment.id == payment.id).values(status="released"))
    result = await report(db)
    assert failing(result) == {"settled_empty"}


async def test_verify_names_a_done_payout_without_its_transaction(db: Database) -> None:
    payment = await funded_payment(db, Decimal("5"))
    now = utcnow()
    payout = {
        "id": uuid.uuid4(),
        "payment_id": payment.id,
        "kind": "release",
        "recipient_id": payment.seller_id,
        "to_address": "0x" + "22" * 20,
        "chain_id": 1,
        "token_contract": USDC[2],
        "currency": "USDC",
        "amount": Decimal("5"),
        "amount_base_units": "5000000",
        "status": "done",
        "unsigned_tx": {},
        "created_at": now,
    }
    await plant(db, sa.insert(Payout).values(**payout))
    result = await report(db)
    assert failing(result) == {"payouts"}


def bazaar_cli(db: Database, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PG_URL", "REDIS_URI", "NODE_ENV")}
    env["DATA_DIR"] = str(db.settings.data_dir)
    env["NODE_ENV"] = "test"
    env["COLUMNS"] = "200"
    if db.settings.pg_url:
        env["PG_URL"] = db.settings.pg_url
    return subprocess.run(
        [sys.executable, "-m", "bazaar.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_exits_non_zero_on_a_breach(db: Database, tmp_path: Path) -> None:
    payment = await funded_payment(db, Decimal("5"))
    clean = bazaar_cli(db, "ledger", "verify", cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ledger OK" in clean.stdout
    await plant(db, sa.update(Payment).where(Payment.id == payment.id).values(status="split"))
    broken = bazaar_cli(db, "ledger", "verify", cwd=tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "ledger BROKEN" in broken.stdout and "settled_empty" in broken.stdout
