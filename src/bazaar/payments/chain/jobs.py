"""The worker's sweep that advances submitted and confirming chain transfers.

No transaction is open around it (`transactional=False`): it claims a batch of due
transfers (leasing them), asks the nodes with no lock held, and records each outcome in a
short transaction of its own (`payments/funding.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bazaar.kit.jobs import SweepContext, periodic
from bazaar.payments import funding


@periodic("payments.chain_verify", every=timedelta(seconds=5), transactional=False)
async def verify_transfers(ctx: SweepContext, now: datetime) -> int:
    return await funding.verify_due(ctx.db, now=now, settings=ctx.settings, backend=ctx.db.backend)
