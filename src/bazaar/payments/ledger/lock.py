"""The payment row lock every money move takes first (ARCHITECTURE rule 6)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import Payment
from bazaar.payments.ledger.errors import LedgerPaymentNotFound

_LOCKED = "ledger.locked_payments"


async def lock_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    """The payment, re-read under `SELECT … FOR UPDATE` (PostgreSQL) so its status and
    amounts are the committed ones; on SQLite the write session's `BEGIN IMMEDIATE`
    already serializes writers. 404 PAYMENT_NOT_FOUND when there is none.

    Called again in the same transaction it returns the object it locked, unread: nobody
    else can have changed the row, and re-reading it (`populate_existing`, sessions do not
    autoflush) would throw away changes this transaction has made but not flushed."""
    locked = _locked_in(session).get(payment_id)
    if locked is not None and locked in session and not sa.inspect(locked).expired_attributes:
        return locked
    stmt = (
        sa.select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    payment = (await session.execute(stmt)).scalar_one_or_none()
    if payment is None:
        raise LedgerPaymentNotFound()
    _locked_in(session)[payment_id] = payment
    return payment


async def ensure_locked(session: AsyncSession, payment: Payment) -> Payment:
    """The payment as this transaction locked it: locked now, unless the transaction
    already holds its lock (a caller such as the chain or the lifecycle locked it first;
    one round trip saved per move). Never the caller's object as such: it may be stale."""
    return await lock_payment(session, payment.id)


def _locked_in(session: AsyncSession) -> dict[uuid.UUID, Payment]:
    # Locks last as long as the transaction: the map belongs to the transaction object, so
    # a session reused for a second transaction starts empty.
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[_LOCKED] = held
    locked: dict[uuid.UUID, Payment] = held[1]
    return locked
