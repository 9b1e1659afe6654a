"""Marketplace timers: deadlines stored on rows, swept every minute by the worker.

Each sweep claims its rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite sweeps run in
`BEGIN IMMEDIATE` transactions, one at a time) and moves each one with a compare-and-set on
its status, so a row is moved, and its history row and notifications written, exactly once
even when two workers sweep at the same moment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import periodic
from bazaar.marketplace.offers import service as offers
from bazaar.marketplace.requests import repository as requests_repo
from bazaar.marketplace.requests import service as requests
from bazaar.models import PurchaseRequest
from bazaar.payments import service as payments

EVERY = timedelta(minutes=1)
BATCH = 200


@periodic("marketplace.expire_requests", every=EVERY)
async def expire_requests(session: AsyncSession, now: datetime) -> int:
    """open past `expiresAt` → expired, with its live offers."""
    moved = 0
    for request in await requests_repo.due_to_expire(session, now, BATCH):
        try:
            await requests.expire(session, request, now)
        except Conflict:
            continue  # moved by someone else since we read it
        moved += 1
    return moved


@periodic("marketplace.lapse_funding", every=EVERY)
async def lapse_funding_windows(session: AsyncSession, now: datetime) -> int:
    """accepted past `fundingDeadline` with no money arriving → open again."""
    moved = 0
    money_moving = payments.in_progress_exists(PurchaseRequest.id)
    lapsed = await requests_repo.funding_lapsed(session, now, BATCH, money_moving=money_moving)
    for request in lapsed:
        try:
            await requests.reopen(session, request, now)
        except Conflict:
            continue
        moved += 1
    return moved


@periodic("marketplace.expire_offers", every=EVERY)
async def expire_offers(session: AsyncSession, now: datetime) -> int:
    """pending offers past their `expiresAt` → expired."""
    return await offers.expire_due(session, now)
