"""The orphan sweep: uploads never attached to anything, older than `upload_orphan_ttl`,
are deleted (rows, then bytes after each batch commits), in batches."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from bazaar.files import service
from bazaar.files.storage import get_storage
from bazaar.kit.jobs import SweepContext, periodic

BATCH = 200


@periodic("files.sweep_orphans", every=timedelta(hours=1), transactional=False)
async def sweep_orphans(ctx: SweepContext, now: datetime) -> int:
    return await sweep(ctx, now)


async def sweep(ctx: SweepContext, now: datetime, *, batch: int = BATCH) -> int:
    """Delete orphaned uploads older than the TTL; how many."""
    before = now - ctx.settings.upload_orphan_ttl
    storage = get_storage(ctx.settings)
    lock = ctx.db.backend == "postgresql"
    total = 0
    while True:
        async with ctx.db.transaction() as session:
            keys = await service.sweep_orphans(session, before, batch, lock=lock)
        for key in keys:
            await storage.delete(key)
        total += len(keys)
        if len(keys) < batch:
            break
    await storage.sweep_temp(time.time() - ctx.settings.upload_orphan_ttl.total_seconds())
    return total
