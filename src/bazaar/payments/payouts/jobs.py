"""The payout verification sweep (worker): sent payouts checked on chain."""

from __future__ import annotations

from datetime import datetime, timedelta

from bazaar.kit.jobs import SweepContext, periodic
from bazaar.payments.payouts import service


@periodic("payouts.verify", every=timedelta(seconds=15), transactional=False)
async def verify_payouts(ctx: SweepContext, now: datetime) -> dict[str, int]:
    return await service.verify_sent(ctx.db, ctx.settings, now)
