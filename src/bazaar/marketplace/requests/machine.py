"""`transition()`: the one place that checks the state table, writes the history row,
notifies the parties and queues the realtime event of a purchase request's move."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.chat import service as chat
from bazaar.kit.db import utcnow
from bazaar.kit.jobs import enqueue
from bazaar.marketplace.requests import repository as repo
from bazaar.marketplace.requests import state
from bazaar.marketplace.requests.errors import (
    TransitionForbidden,
    TransitionNotForceable,
    invalid_transition,
)
from bazaar.models import PurchaseRequest, RequestHistory, User
from bazaar.notifications.service import notify

# Outbox kind for Socket.IO events (`{room, event, data}`), delivered by the realtime issue.
REALTIME_JOB = "realtime.emit"


async def emit(session: AsyncSession, room: str, event: str, data: dict[str, Any]) -> None:
    """Queue a realtime event; it is sent only if the transaction commits."""
    await enqueue(session, REALTIME_JOB, {"room": room, "event": event, "data": data})


def _is_party(
    request: PurchaseRequest, actor: User | None, role: str, seller_id: uuid.UUID | None
) -> bool:
    if role == state.SYSTEM:
        return actor is None
    if actor is None:
        return False
    if role == state.BUYER:
        return actor.id == request.buyer_id
    if role == state.SELLER:
        return seller_id is not None and actor.id == seller_id
    if role == state.ADMIN:
        return actor.has_role("admin")
    if role == state.RESOLVER:
        return actor.has_role("resolver") or actor.has_role("admin")
    return False


async def check_transition(
    session: AsyncSession,
    request: PurchaseRequest,
    to_status: str,
    *,
    actor: User | None,
    role: str,
    force: bool = False,
) -> tuple[state.Rule, uuid.UUID | None]:
    """Raise 409 when the table has no such move, 403 when the actor may not make it.

    `force` is an admin's override: any move of the table out of a non-final state, except
    the moves whose truth is outside Bazaar (409 TRANSITION_NOT_FORCEABLE: `accepted →
    funded`). Returns the rule and the accepted offer's seller (the other party).
    """
    from_status = request.status
    rule = state.rule_for(from_status, to_status)
    if rule is None:
        why = "it is final" if state.is_final(from_status) else None
        raise invalid_transition(from_status, to_status, why)
    seller_id = await repo.accepted_seller_id(session, request)
    if force:
        if actor is None or not actor.has_role("admin"):
            raise TransitionForbidden("Only an admin can force a transition")
        if not rule.forceable:
            raise TransitionNotForceable(details={"from": from_status, "to": to_status})
        return rule, seller_id
    if role not in rule.roles:
        allowed = ", ".join(sorted(rule.roles))
        raise TransitionForbidden(
            f"Only the {allowed} may move a request from {from_status} to {to_status}"
        )
    if not _is_party(request, actor, role, seller_id):
        raise TransitionForbidden(f"You are not the {role} of this request")
    return rule, seller_id


async def transition(
    session: AsyncSession,
    request: PurchaseRequest,
    to_status: str,
    *,
    actor: User | None,
    role: str,
    reason: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> RequestHistory:
    """Move `request` to `to_status` as `actor` acting as `role` (None + "system" for timers).

    Checks the state table (409 INVALID_STATE_TRANSITION) and the party (403), then moves
    the status with a compare-and-set, so two concurrent movers cannot both succeed. Writes
    the history row, notifies the parties other than the actor, queues `request:updated`.
    """
    now = now or utcnow()
    rule, seller_id = await check_transition(
        session, request, to_status, actor=actor, role=role, force=force
    )
    from_status = request.status
    if not await repo.move_status(session, request, from_status, to_status, now):
        raise invalid_transition(from_status, to_status, "the request changed meanwhile")
    role = state.ADMIN if force else role
    actor_id = actor.id if actor is not None else None
    entry = await repo.add_history(
        session,
        request.id,
        actor_id=actor_id,
        role=role,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        now=now,
    )
    data = {
        "requestId": str(request.id),
        "title": request.title,
        "from": from_status,
        "to": to_status,
        "reason": reason,
        "offerId": str(request.accepted_offer_id) if request.accepted_offer_id else None,
    }
    for party in dict.fromkeys((request.buyer_id, seller_id)):
        if party is not None and party != actor_id:
            await notify(session, party, rule.notice, data)
    # The request's room may hold sellers who lost: the accepted offer is the parties' only.
    public = {key: value for key, value in data.items() if key != "offerId"}
    await emit(session, f"request:{request.id}", "request:updated", public)
    # A system line in the request's conversations that exist (none is opened for it).
    await chat.request_changed(session, request, from_status, to_status, seller_id)
    return entry


async def notify_sellers(
    session: AsyncSession, sellers: list[uuid.UUID], type_: str, data: dict[str, Any]
) -> None:
    """Tell each seller once (a list may repeat one)."""
    for seller_id in dict.fromkeys(sellers):
        await notify(session, seller_id, type_, data)
