"""`move()`: the one place that changes `Payment.status`.

Along `payments/status.py`'s table only, with a compare-and-set on the status (two movers
cannot both win: the second gets 409 INVALID_STATE_TRANSITION), a `payment_events` row with
the cause and the actor, a notification to each party other than the actor and the
`payment:updated` realtime event to the room `payment:<id>`; all of them jobs written in the
caller's transaction, so they exist only if it commits. Never commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.jobs import REALTIME_TTL, enqueue
from bazaar.models import Payment, PaymentEvent
from bazaar.notifications.service import notify
from bazaar.payments import repository, status
from bazaar.payments.errors import invalid_move

# Outbox kind for Socket.IO events (`{room, event, data}`), as marketplace requests use.
REALTIME_JOB = "realtime.emit"


def room(payment_id: uuid.UUID) -> str:
    return f"payment:{payment_id}"


def public_data(payment: Payment) -> dict[str, Any]:
    """What the parties and the payment's room are told about a move."""
    return {
        "paymentId": str(payment.id),
        "requestId": str(payment.request_id),
        "status": payment.status,
        "amount": str(payment.amount),
        "amountPaid": str(payment.amount_paid),
        "currency": payment.currency,
    }


async def move(
    session: AsyncSession,
    payment: Payment,
    to_status: str,
    *,
    cause: str,
    now: datetime,
    actor_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> PaymentEvent:
    """Move `payment` to `to_status` (409 when the table has no such move or another
    transaction moved it first); record the event, notify the parties, emit the update."""
    from_status = payment.status
    if not status.can_move(from_status, to_status):
        raise invalid_move(from_status, to_status)
    if not await repository.move_status(session, payment, from_status, to_status, now):
        raise invalid_move(from_status, to_status, "the payment changed meanwhile")
    event = PaymentEvent(
        payment_id=payment.id,
        from_status=from_status,
        to_status=to_status,
        cause=cause,
        actor_id=actor_id,
        data=data or {},
        created_at=now,
    )
    session.add(event)
    await session.flush()
    info = {**public_data(payment), "from": from_status, "to": to_status, "cause": cause}
    for party in dict.fromkeys((payment.buyer_id, payment.seller_id)):
        if party != actor_id:
            await notify(session, party, f"payment.{to_status}", info)
    await enqueue(
        session,
        REALTIME_JOB,
        {"room": room(payment.id), "event": "payment:updated", "data": info},
        expires_in=REALTIME_TTL,
    )
    return event
