"""Every payment query: reads scoped to the viewer (`readable_statement`), the status
compare-and-set, the timers' claims and the admin cleanup's candidates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import (
    ChainTransfer,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    Payout,
    PurchaseRequest,
    User,
)

PR = PurchaseRequest


async def not_closed_locked(
    session: AsyncSession, request_id: uuid.UUID, closed: Collection[str]
) -> list[Payment]:
    """The request's payments not in `closed`, locked for update and reloaded."""
    stmt = (
        sa.select(Payment)
        .where(Payment.request_id == request_id, Payment.status.not_in(list(closed)))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


def money_moving(request_id_column: Any, unpaid: Collection[str]) -> sa.ColumnElement[bool]:
    """SQL: the request has a payment whose status is not one of `unpaid`."""
    return sa.exists().where(
        Payment.request_id == request_id_column, Payment.status.not_in(list(unpaid))
    )


# -- reads scoped to the viewer --------------------------------------------------------------


def readable_statement(viewer: User, *, everyone: bool = False) -> sa.Select[Payment]:
    """The payments `viewer` may see: their own as buyer or seller; an admin every payment
    when `everyone` (the admin's search) or for one payment by id."""
    stmt = sa.select(Payment)
    if everyone and viewer.has_role("admin"):
        return stmt
    return stmt.where(sa.or_(Payment.buyer_id == viewer.id, Payment.seller_id == viewer.id))


async def get_readable(
    session: AsyncSession, payment_id: uuid.UUID, viewer: User
) -> Payment | None:
    stmt = readable_statement(viewer, everyone=True).where(Payment.id == payment_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_unscoped(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    """For escrow code that already decided the caller may act, jobs and admin code."""
    stmt = (
        sa.select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _search(
    viewer: User, *, everyone: bool, status: str | None, q: uuid.UUID | None
) -> sa.Select[Payment]:
    stmt = readable_statement(viewer, everyone=everyone)
    if status is not None:
        stmt = stmt.where(Payment.status == status)
    if q is not None:
        stmt = stmt.where(
            sa.or_(
                Payment.id == q,
                Payment.request_id == q,
                Payment.buyer_id == q,
                Payment.seller_id == q,
            )
        )
    return stmt


async def list_readable(
    session: AsyncSession,
    viewer: User,
    params: PageParams,
    *,
    everyone: bool = False,
    status: str | None = None,
    q: uuid.UUID | None = None,
) -> tuple[list[Payment], int]:
    stmt = _search(viewer, everyone=everyone, status=status, q=q).order_by(
        Payment.created_at.desc(), Payment.id.desc()
    )
    return await paginate(session, stmt, params)


async def stream_readable(
    session: AsyncSession, viewer: User, *, everyone: bool, batch: int = 500
) -> AsyncIterator[list[Payment]]:
    """The viewer's payments in batches, oldest first (keyset on created_at, id)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        stmt = _search(viewer, everyone=everyone, status=None, q=None)
        if after is not None:
            stmt = stmt.where(sa.tuple_(Payment.created_at, Payment.id) > sa.tuple_(*after))
        stmt = stmt.order_by(Payment.created_at, Payment.id).limit(batch)
        rows = list((await session.execute(stmt)).scalars())
        if not rows:
            return
        yield rows
        after = (rows[-1].created_at, rows[-1].id)
        if len(rows) < batch:
            return


async def with_status(session: AsyncSession, request_id: uuid.UUID, wanted: str) -> Payment | None:
    stmt = sa.select(Payment).where(Payment.request_id == request_id, Payment.status == wanted)
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def events_of(session: AsyncSession, payment_id: uuid.UUID) -> list[PaymentEvent]:
    """The payment's moves in the order they happened."""
    stmt = (
        sa.select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id)
        .order_by(PaymentEvent.created_at)
    )
    return in_order(list((await session.execute(stmt)).scalars()))


def in_order(events: list[PaymentEvent]) -> list[PaymentEvent]:
    """Events sorted by time, and moves made at the same instant (one transaction's `now`,
    e.g. pending → confirming → held) chained: each starts where the one before ended."""
    ordered: list[PaymentEvent] = []
    rest = list(events)
    while rest:
        first_time = rest[0].created_at
        ties = [e for e in rest if e.created_at == first_time]
        last = ordered[-1].to_status if ordered else None
        pick = next((e for e in ties if e.from_status == last), ties[0])
        ordered.append(pick)
        rest.remove(pick)
    return ordered


async def transfers_of(session: AsyncSession, payment_id: uuid.UUID) -> list[ChainTransfer]:
    stmt = (
        sa.select(ChainTransfer)
        .where(ChainTransfer.payment_id == payment_id)
        .order_by(ChainTransfer.created_at)
    )
    return list((await session.execute(stmt)).scalars())


async def payouts_of(
    session: AsyncSession, payment_id: uuid.UUID, recipient_id: uuid.UUID | None
) -> list[Payout]:
    """The payment's payouts; only `recipient_id`'s own unless None (admin)."""
    stmt = sa.select(Payout).where(Payout.payment_id == payment_id)
    if recipient_id is not None:
        stmt = stmt.where(Payout.recipient_id == recipient_id)
    return list((await session.execute(stmt.order_by(Payout.created_at))).scalars())


# -- moves -----------------------------------------------------------------------------------


async def move_status(
    session: AsyncSession, payment: Payment, from_status: str, to_status: str, now: datetime
) -> bool:
    """Compare-and-set the status; False when another transaction moved it first."""
    stmt = (
        sa.update(Payment)
        .where(Payment.id == payment.id, Payment.status == from_status)
        .values(status=to_status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(payment, "status", to_status)
    set_committed_value(payment, "updated_at", now)
    return True


async def ledger_amounts(session: AsyncSession, transaction_id: uuid.UUID) -> dict[str, Decimal]:
    """What a ledger transaction moved into (or out of) each kind of account."""
    stmt = (
        sa.select(LedgerAccount.kind, LedgerEntry.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id == transaction_id)
    )
    totals: dict[str, Decimal] = {}
    for kind, amount in (await session.execute(stmt)).all():
        totals[kind] = totals.get(kind, Decimal(0)) + amount
    return {kind: abs(total) for kind, total in totals.items()}


# -- timers ------------------------------------------------------------------------------------


def _claim(stmt: sa.Select[Any], limit: int) -> sa.Select[Any]:
    # SKIP LOCKED on the request row (the lock order is request, then payment): a second
    # worker passes over rows the first is moving. SQLite sweeps run one at a time.
    return stmt.limit(limit).with_for_update(skip_locked=True, of=PR)


async def held_and_due(
    session: AsyncSession,
    *,
    request_status: str,
    deadline: Any,
    now: datetime,
    limit: int,
    held: str,
) -> list[uuid.UUID]:
    """Held payments whose request is in `request_status` with `deadline` passed, claimed."""
    stmt = (
        sa.select(Payment.id)
        .join(PR, PR.id == Payment.request_id)
        .where(Payment.status == held, PR.status == request_status, deadline <= now)
        .order_by(deadline, Payment.id)
    )
    return list((await session.execute(_claim(stmt, limit))).scalars())


# Chain transfers neither credited nor failed: money that may still complete a payment.
ARRIVING = ("submitted", "confirming")


def _arriving(payment_id: Any, waiting: Collection[str]) -> sa.Exists:
    return sa.exists().where(
        ChainTransfer.payment_id == payment_id, ChainTransfer.status.in_(list(waiting))
    )


async def has_arriving(
    session: AsyncSession, payment_id: uuid.UUID, waiting: Collection[str]
) -> bool:
    """Whether a transfer of the payment is still `waiting` to confirm."""
    return bool(await session.scalar(sa.select(_arriving(payment_id, waiting))))


async def short_and_lapsed(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    short: str,
    waiting: Collection[str],
) -> list[uuid.UUID]:
    """Payments still `short` (partially paid) past their funding deadline, on a request
    that still waits for them, with no transfer still `waiting` to confirm; claimed."""
    arriving = _arriving(Payment.id, waiting)
    stmt = (
        sa.select(Payment.id)
        .join(PR, PR.id == Payment.request_id)
        .where(
            Payment.status == short,
            Payment.expires_at <= now,
            PR.status == "accepted",
            PR.accepted_offer_id == Payment.offer_id,
            ~arriving,
        )
        .order_by(Payment.expires_at, Payment.id)
    )
    return list((await session.execute(_claim(stmt, limit))).scalars())


async def reminders_due(
    session: AsyncSession,
    *,
    request_status: str,
    deadline: Any,
    reminded: Any,
    now: datetime,
    lead: Any,
    limit: int,
    statuses: Collection[str],
) -> list[tuple[Payment, PurchaseRequest]]:
    """Payments in `statuses` whose request's `deadline` is within `lead` of now (not
    passed) and whose reminder was not sent yet, claimed."""
    stmt = (
        sa.select(Payment, PR)
        .join(PR, PR.id == Payment.request_id)
        .where(
            Payment.status.in_(list(statuses)),
            PR.status == request_status,
            reminded.is_(None),
            deadline > now,
            deadline <= now + lead,
        )
        .order_by(deadline, Payment.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Payment)
        .execution_options(populate_existing=True)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


# -- admin cleanup -----------------------------------------------------------------------------


def _untouched() -> sa.ColumnElement[bool]:
    no_ledger = ~sa.exists().where(LedgerTransaction.payment_id == Payment.id)
    no_transfer = ~sa.exists().where(ChainTransfer.payment_id == Payment.id)
    no_payout = ~sa.exists().where(Payout.payment_id == Payment.id)
    return sa.and_(no_ledger, no_transfer, no_payout)


async def cleanup_candidates(
    session: AsyncSession, provider: str, statuses: Collection[str], *, lock: bool
) -> list[Payment]:
    """Payments of `provider` in `statuses` that no money ever touched: no ledger
    transaction, no chain transfer, no payout."""
    stmt = (
        sa.select(Payment)
        .where(Payment.provider == provider, Payment.status.in_(list(statuses)), _untouched())
        .order_by(Payment.created_at, Payment.id)
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def payments_of_requests(
    session: AsyncSession, request_ids: Collection[uuid.UUID]
) -> list[Payment]:
    if not request_ids:
        return []
    stmt = sa.select(Payment).where(Payment.request_id.in_(list(request_ids)))
    return list((await session.execute(stmt)).scalars())


async def delete_payments(session: AsyncSession, payment_ids: Collection[uuid.UUID]) -> int:
    """Delete unfunded payments (their events go with them); the caller checked, under
    the rows' locks, that no money touched them. Re-checked here in the statement."""
    if not payment_ids:
        return 0
    await session.execute(
        sa.delete(PaymentEvent).where(PaymentEvent.payment_id.in_(list(payment_ids)))
    )
    result = await session.execute(
        sa.delete(Payment)
        .where(Payment.id.in_(list(payment_ids)), _untouched())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
