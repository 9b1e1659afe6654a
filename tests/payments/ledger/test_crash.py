"""A process killed in the middle of a release (entries written, COMMIT not reached) leaves
nothing half-applied, and a retry with the same key completes exactly once. Both
databases."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments import ledger
from bazaar.payments.ledger.verify import verify
from tests.payments.ledger.helpers import count_kind, funded_payment, held, set_status

ROOT = Path(__file__).resolve().parents[3]


async def test_a_release_killed_before_commit_leaves_nothing(db: Database) -> None:
    payment = await funded_payment(db, Decimal("80"))
    key = f"payment:{payment.id}:release"
    args = {
        "data_dir": str(db.settings.data_dir),
        "pg_url": db.settings.pg_url,
        "payment_id": str(payment.id),
        "key": key,
    }
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.payments.ledger.crash_release", json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # It died at COMMIT with the release's three entries written in its transaction.
    assert child.returncode == 1, child.stdout + child.stderr
    assert child.stdout.strip() == "written 3", child.stdout + child.stderr

    assert await count_kind(db, "release", payment.id) == 0
    assert await held(db, payment) == Decimal("80")
    async with db.reading() as session:
        assert (
            await session.scalar(sa.select(Payment.status).where(Payment.id == payment.id))
            == "held"
        )
        assert (await verify(session)).ok

    # The retry with the same key: once, and once only however often it is repeated.
    ids = set()
    for _ in range(3):
        async with db.transaction() as session:
            tx = await ledger.release(
                session, payment, fee_percent="2.5", key=key, cause="retry", now=utcnow()
            )
            await set_status(session, payment.id, "released")
            ids.add(tx.id)
    assert len(ids) == 1
    assert await count_kind(db, "release", payment.id) == 1
    assert await held(db, payment) == 0
    async with db.reading() as session:
        tx = await session.get_one(LedgerTransaction, ids.pop())
        assert tx.cause == "retry" and tx.meta["seller"] == "78"
        assert (await verify(session)).ok
