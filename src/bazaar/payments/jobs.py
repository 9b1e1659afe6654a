"""Escrow timers: the deadlines stored on purchase requests, swept every minute.

- inspection ended on a delivered request whose payment is held → release to the seller
  (cause `timer.inspection`), request completed;
- delivery deadline passed on a funded (not delivered) request whose payment is held →
  refund to the buyer (cause `timer.delivery`), request refunded;
- funding window ended on a partially paid payment with no transfer still confirming →
  what was paid goes back to the buyer (cause `timer.funding`), request open again (the
  marketplace's own funding sweep only reopens requests that saw no money);
- reminders: the seller before the delivery deadline, the buyer before the inspection
  deadline (PAYMENT_REMINDER_BEFORE), each once (stamped on the payment).

Only funded/delivered requests are swept, so a dispute freezes every timer. Rows are
claimed with `FOR UPDATE SKIP LOCKED` on the request row (PostgreSQL; SQLite sweeps run one
at a time in BEGIN IMMEDIATE), and each is moved in its own savepoint: a payment that
fails is rolled back alone and retried next pass. Each timer fires at most once: the
release/refund move the payment out of `held` (a compare-and-set), and their ledger keys
derive from the payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import SweepContext, each_in_savepoint, in_batches, periodic
from bazaar.payments import escrow, service

EVERY = timedelta(minutes=1)
BATCH = 100


class Step(Protocol):
    def __call__(
        self, session: AsyncSession, now: datetime, *, settings: Settings, limit: int
    ) -> Awaitable[int]: ...


async def auto_release(
    session: AsyncSession, now: datetime, *, settings: Settings, limit: int = BATCH
) -> int:
    """Release the held payments whose inspection window has ended; how many."""
    due = await service.inspection_ended(session, now, limit)

    async def release(payment_id: uuid.UUID) -> None:
        await escrow.release(
            session,
            payment_id,
            actor_id=None,
            key=f"timer.inspection:{payment_id}",
            now=now,
            settings=settings,
            cause="timer.inspection",
        )

    return await each_in_savepoint(session, due, release, expected=(Conflict,))


async def auto_refund(
    session: AsyncSession, now: datetime, *, settings: Settings, limit: int = BATCH
) -> int:
    """Refund the held payments whose request was not delivered in time; how many."""
    due = await service.delivery_lapsed(session, now, limit)

    async def refund(payment_id: uuid.UUID) -> None:
        await escrow.refund(
            session,
            payment_id,
            actor_id=None,
            key=f"timer.delivery:{payment_id}",
            now=now,
            settings=settings,
            cause="timer.delivery",
            reason="The seller did not deliver before the delivery deadline",
        )

    return await each_in_savepoint(session, due, refund, expected=(Conflict,))


async def refund_short(
    session: AsyncSession, now: datetime, *, settings: Settings, limit: int = BATCH
) -> int:
    """Refund the partially paid payments whose funding window ended; how many."""
    due = await service.short_when_lapsed(session, now, limit)

    async def refund(payment_id: uuid.UUID) -> None:
        await escrow.refund(
            session,
            payment_id,
            actor_id=None,
            key=f"timer.funding:{payment_id}",
            now=now,
            settings=settings,
            cause="timer.funding",
            reason="The payment was not completed before the payment deadline",
            short_ok=True,
        )

    return await each_in_savepoint(session, due, refund, expected=(Conflict,))


# Batch sweeps (no surrounding transaction) get the worker's settings; each pass runs in
# short transactions of at most BATCH payments, until a batch comes back short.


async def _in_batches(ctx: SweepContext, now: datetime, step: Step) -> int:
    async def batch(session: AsyncSession, limit: int) -> int:
        return await step(session, now, settings=ctx.settings, limit=limit)

    return await in_batches(ctx.db, batch, BATCH)


@periodic("payments.auto_release", every=EVERY, transactional=False)
async def sweep_inspection(ctx: SweepContext, now: datetime) -> int:
    return await _in_batches(ctx, now, auto_release)


@periodic("payments.auto_refund", every=EVERY, transactional=False)
async def sweep_delivery(ctx: SweepContext, now: datetime) -> int:
    return await _in_batches(ctx, now, auto_refund)


@periodic("payments.refund_short", every=EVERY, transactional=False)
async def sweep_short(ctx: SweepContext, now: datetime) -> int:
    return await _in_batches(ctx, now, refund_short)


@periodic("payments.reminders", every=EVERY, transactional=False)
async def sweep_reminders(ctx: SweepContext, now: datetime) -> int:
    return await _in_batches(ctx, now, send_reminders)


async def send_reminders(
    session: AsyncSession, now: datetime, *, settings: Settings, limit: int = BATCH
) -> int:
    """Send the reminders due (each once); how many."""
    return await service.send_reminders(session, now, settings=settings, limit=limit)
