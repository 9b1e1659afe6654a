"""Marketplace timers: deadlines stored on rows, swept every minute by the worker.

Each sweep claims its rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite sweeps run in
`BEGIN IMMEDIATE` transactions, one at a time) and moves each one with a compare-and-set on
its status, so a row is moved, and its history row and notifications written, exactly once
even when two workers sweep at the same moment.

Each row is moved in its own SAVEPOINT (`each_in_savepoint`): a row that fails half-way
(its status moved, its history not yet written) is rolled back alone and left for the next
pass, while the rows around it are committed. Without it one bad row would undo the whole
batch every minute and the sweep would never get past it. A `Conflict` means another
transaction moved the row first: skipped quietly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import each_in_savepoint, periodic
from bazaar.marketplace.offers import service as offers
from bazaar.marketplace.requests import service as requests

EVERY = timedelta(minutes=1)
BATCH = 200


@periodic("marketplace.expire_requests", every=EVERY)
async def expire_requests(session: AsyncSession, now: datetime) -> int:
    """open past `expiresAt` → expired, with its live offers."""
    due = await requests.due_to_expire(session, now, BATCH)
    return await each_in_savepoint(
        session, due, lambda r: requests.expire(session, r, now), expected=(Conflict,)
    )


@periodic("marketplace.lapse_funding", every=EVERY)
async def lapse_funding_windows(session: AsyncSession, now: datetime) -> int:
    """accepted past `fundingDeadline` with no money arriving → open again."""
    lapsed = await requests.funding_lapsed(session, now, BATCH)
    return await each_in_savepoint(
        session, lapsed, lambda r: requests.reopen(session, r, now), expected=(Conflict,)
    )


@periodic("marketplace.expire_offers", every=EVERY)
async def expire_offers(session: AsyncSession, now: datetime) -> int:
    """pending offers past their `expiresAt` → expired."""
    due = await offers.due_to_expire(session, now, BATCH)
    return await each_in_savepoint(
        session, due, lambda o: offers.expire(session, o, now), expected=(Conflict,)
    )
