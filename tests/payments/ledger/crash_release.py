"""Run by test_crash.py in a subprocess: a release whose process dies at COMMIT.

    python -m tests.payments.ledger.crash_release '<json: data_dir, pg_url, payment_id, key>'

A `before_commit` hook of this script's own session counts the release's entries already
written in the open transaction, prints the count, and calls `os._exit(1)`: no cleanup,
no rollback, the connection simply dropped, as when the process is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerEntry, LedgerTransaction, Payment
from bazaar.payments import ledger


async def main(args: dict[str, Any]) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        node_env="test",
        data_dir=args["data_dir"],
        pg_url=args["pg_url"],
        log_level="WARNING",
    )
    db = Database(settings)
    key = args["key"]
    async with db.session() as session:

        @event.listens_for(session.sync_session, "before_commit")
        def die(sync_session: Any) -> None:
            written = sync_session.execute(
                sa.select(sa.func.count())
                .select_from(LedgerEntry)
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
                .where(LedgerTransaction.idempotency_key == key)
            ).scalar_one()
            print(f"written {written}", flush=True)
            os._exit(1)

        payment = await ledger.lock_payment(session, uuid.UUID(args["payment_id"]))
        await ledger.release(
            session, payment, fee_percent="2.5", key=key, cause="crash", now=utcnow()
        )
        await session.execute(
            sa.update(Payment).where(Payment.id == payment.id).values(status="released")
        )
        await session.commit()
    print("committed", flush=True)  # never reached


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
