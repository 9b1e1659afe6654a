"""What happens to a request after a deal: the timers' moves (expiry, funding lapse) and the
rows they are due on, superseding the offers a deal leaves behind, funding, delivery, and
the outcomes later issues drive (complete, refund, split, dispute).

The moves are plain service functions over `transition()`; they never commit. Each takes
`force` (an admin's override, see `service.force_transition`) and an optional
`actor`/`reason`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.files import service as file_refs
from bazaar.kit.db import utcnow
from bazaar.kit.errors import ValidationFailed
from bazaar.marketplace.requests import repository as repo
from bazaar.marketplace.requests import state
from bazaar.marketplace.requests.machine import check_transition, notify_sellers, transition
from bazaar.models import PurchaseRequest, User
from bazaar.models.marketplace import LIVE_OFFER_STATUSES
from bazaar.payments import service as payments


async def due_to_expire(session: AsyncSession, now: datetime, limit: int) -> list[PurchaseRequest]:
    """Open requests past their deadline, claimed for this sweep (SKIP LOCKED on
    PostgreSQL), oldest deadline first."""
    return await repo.due_to_expire(session, now, limit)


async def funding_lapsed(session: AsyncSession, now: datetime, limit: int) -> list[PurchaseRequest]:
    """Accepted requests past their funding deadline whose payment saw no money, claimed
    for this sweep."""
    money_moving = payments.in_progress_exists(PurchaseRequest.id)
    return await repo.funding_lapsed(session, now, limit, money_moving=money_moving)


async def supersede_offers(
    session: AsyncSession, request: PurchaseRequest, accepted_offer_id: uuid.UUID, now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Pending offers other than the accepted one → superseded: (offer id, seller id)s."""
    return await repo.close_offers(
        session, request.id, ("pending",), "superseded", now, except_id=accepted_offer_id
    )


async def expire(
    session: AsyncSession,
    request: PurchaseRequest,
    now: datetime,
    *,
    actor: User | None = None,
    force: bool = False,
    reason: str | None = None,
) -> PurchaseRequest:
    """open → expired (system at `expiresAt`): its live offers expire with it."""
    await transition(
        session,
        request,
        state.EXPIRED,
        actor=actor,
        role=state.SYSTEM,
        reason=reason or "No offer was accepted before the deadline",
        force=force,
        now=now,
    )
    closed = await repo.close_offers(session, request.id, LIVE_OFFER_STATUSES, "expired", now)
    info = {"requestId": str(request.id), "title": request.title}
    await notify_sellers(session, [seller for _, seller in closed], "request.expired", info)
    return request


async def reopen(
    session: AsyncSession,
    request: PurchaseRequest,
    now: datetime,
    *,
    actor: User | None = None,
    force: bool = False,
    reason: str | None = None,
) -> PurchaseRequest:
    """accepted → open (system when the funding window lapses): the payment and the accepted
    offer expire (an admin's forced reopen cancels them); superseded offers stay so."""
    await check_transition(
        session, request, state.OPEN, actor=actor, role=state.SYSTEM, force=force
    )
    payment = await payments.open_payment(session, request.id)
    await transition(
        session,
        request,
        state.OPEN,
        actor=actor,
        role=state.SYSTEM,
        reason=reason or "The payment did not arrive within the payment window",
        force=force,
        now=now,
    )
    closed_as = payments.CANCELLED if force else payments.EXPIRED
    await repo.close_offers(session, request.id, ("accepted",), closed_as, now)
    payments.close_payment(payment, closed_as, now)
    request.accepted_offer_id = None
    request.locked_price = None
    request.funding_deadline = None
    await session.flush()
    return request


async def mark_funded(
    session: AsyncSession,
    request: PurchaseRequest,
    now: datetime,
    *,
    actor: User | None = None,
    force: bool = False,
    reason: str | None = None,
    settings: Settings,
) -> PurchaseRequest:
    """accepted → funded (system, when the payment is held in escrow): the delivery window
    starts (the offer's delivery days + DELIVERY_GRACE)."""
    await transition(
        session,
        request,
        state.FUNDED,
        actor=actor,
        role=state.SYSTEM,
        reason=reason,
        force=force,
        now=now,
    )
    offer = await repo.offer(session, request.accepted_offer_id)
    days = offer.delivery_days if offer is not None else 0
    request.delivery_deadline = now + timedelta(days=days) + settings.delivery_grace
    await session.flush()
    return request


async def deliver(
    session: AsyncSession,
    request: PurchaseRequest,
    actor: User,
    *,
    note: str | None,
    files: list[str],
    settings: Settings,
    now: datetime | None = None,
    force: bool = False,
    reason: str | None = None,
) -> PurchaseRequest:
    """funded → delivered (the seller of the accepted offer, with a note and/or proof
    files): the buyer's inspection window (INSPECTION_PERIOD) starts."""
    now = now or utcnow()
    await check_transition(
        session, request, state.DELIVERED, actor=actor, role=state.SELLER, force=force
    )
    if not force and not note and not files:
        raise ValidationFailed.on("note", "give a delivery note or at least one file")
    if not force:
        await file_refs.check_refs(session, actor, files, ("attachment", "evidence"))
    await file_refs.attach(session, files, "request", request.id)
    await transition(
        session,
        request,
        state.DELIVERED,
        actor=actor,
        role=state.SELLER,
        reason=reason,
        force=force,
        now=now,
    )
    request.delivery_note = note
    request.delivery_files = list(files)
    request.inspection_deadline = now + settings.inspection_period
    await session.flush()
    return request


async def complete(
    session: AsyncSession,
    request: PurchaseRequest,
    *,
    actor: User | None,
    role: str,
    reason: str | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> PurchaseRequest:
    """delivered → completed (buyer confirms or the inspection timer), or disputed →
    completed (resolver, settlement). The escrow issue releases the money around this."""
    now = now or utcnow()
    await transition(
        session,
        request,
        state.COMPLETED,
        actor=actor,
        role=role,
        reason=reason,
        force=force,
        now=now,
    )
    request.completed_at = now
    await session.flush()
    return request


def _plain_move(to_status: str, doc: str) -> Callable[..., Awaitable[PurchaseRequest]]:
    """A transition with no effect beyond the table's (status, history, notifications)."""

    async def move(
        session: AsyncSession,
        request: PurchaseRequest,
        *,
        actor: User | None,
        role: str,
        reason: str | None = None,
        now: datetime | None = None,
        force: bool = False,
    ) -> PurchaseRequest:
        await transition(
            session, request, to_status, actor=actor, role=role, reason=reason, force=force, now=now
        )
        return request

    move.__doc__ = doc
    return move


refund = _plain_move(
    state.REFUNDED,
    "funded → refunded (seller, delivery-window timer, admin) or disputed → refunded.",
)
split = _plain_move(state.SPLIT, "disputed → split (resolver decision or accepted settlement).")
open_dispute = _plain_move(
    state.DISPUTED,
    "funded/delivered → disputed (buyer or seller); release timers stop, as their sweeps "
    "only act on funded/delivered requests.",
)


# Never funded: what the admin cleanup of a payment provider may remove with its payments.
UNFUNDED = (state.ACCEPTED, state.CANCELLED, state.EXPIRED)


async def unfunded_requests(
    session: AsyncSession, request_ids: list[uuid.UUID], *, lock: bool = False
) -> list[uuid.UUID]:
    """Of `request_ids`, the requests that never got past `accepted`."""
    return await repo.unfunded(session, request_ids, UNFUNDED, lock=lock)


async def remove_unfunded(session: AsyncSession, request_ids: list[uuid.UUID]) -> int:
    """Delete never-funded requests (offers and history with them) once their payments are
    gone: the admin cleanup of a payment provider's test leftovers."""
    return await repo.delete_requests(session, request_ids)
