"""Marketplace timers: deadlines stored on rows, swept every minute by the worker.

Each sweep claims its rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite sweeps run in
`BEGIN IMMEDIATE` transactions, one at a time) and moves each one with a compare-and-set on
its status, so a row is moved, and its history row and notifications written, exactly once
even when two workers sweep at the same moment.

Each row is moved in its own SAVEPOINT: a row that fails half-way (after its status moved,
before its history was written) is rolled back alone and left for the next pass, while the
rows around it are committed. Without it one bad row would undo the whole batch every
minute, and the sweep would never get past it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import periodic
from bazaar.marketplace.offers import service as offers
from bazaar.marketplace.requests import service as requests

log = structlog.get_logger("bazaar.marketplace.jobs")

EVERY = timedelta(minutes=1)
BATCH = 200

T = TypeVar("T")


async def each_in_savepoint(
    session: AsyncSession, sweep: str, rows: Iterable[T], move: Callable[[T], Awaitable[Any]]
) -> int:
    """`move(row)` for each row in its own savepoint; how many rows moved.

    A `Conflict` means another transaction moved the row first: skipped quietly. Anything
    else is logged with its traceback and skipped; the row's writes are rolled back with
    its savepoint either way.
    """
    moved = 0
    for row in rows:
        try:
            async with session.begin_nested():
                await move(row)
        except Conflict:
            continue
        except Exception:
            log.exception("sweep_row_failed", sweep=sweep, row=_identity(row))
            continue
        moved += 1
    return moved


def _identity(row: Any) -> str:
    # A rolled-back ORM object is expired: reading its attributes would query again, so
    # name it by its identity key.
    state = sa.inspect(row, raiseerr=False)
    identity = getattr(state, "identity", None)
    if identity is not None:
        return f"{type(row).__name__}{tuple(str(part) for part in identity)}"
    return str(row)


@periodic("marketplace.expire_requests", every=EVERY)
async def expire_requests(session: AsyncSession, now: datetime) -> int:
    """open past `expiresAt` → expired, with its live offers."""
    due = await requests.due_to_expire(session, now, BATCH)
    return await each_in_savepoint(
        session, "marketplace.expire_requests", due, lambda r: requests.expire(session, r, now)
    )


@periodic("marketplace.lapse_funding", every=EVERY)
async def lapse_funding_windows(session: AsyncSession, now: datetime) -> int:
    """accepted past `fundingDeadline` with no money arriving → open again."""
    lapsed = await requests.funding_lapsed(session, now, BATCH)
    return await each_in_savepoint(
        session, "marketplace.lapse_funding", lapsed, lambda r: requests.reopen(session, r, now)
    )


@periodic("marketplace.expire_offers", every=EVERY)
async def expire_offers(session: AsyncSession, now: datetime) -> int:
    """pending offers past their `expiresAt` → expired."""
    due = await offers.due_to_expire(session, now, BATCH)
    return await each_in_savepoint(
        session, "marketplace.expire_offers", due, lambda o: offers.expire(session, o, now)
    )
