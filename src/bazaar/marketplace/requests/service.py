"""Purchase request rules: create, edit, publish, cancel, deliver and the timers' moves.

`transition()` (machine.py) is the one place that checks the state table, writes the history
row and notifies the parties. The moves after a deal live in lifecycle.py, the detail
shaped per viewer in views.py. All are re-exported here: other domains call
`bazaar.marketplace.requests.service` only.

Every lifecycle function first moves the state through `transition()` and then applies its
effects, so a refused move changes nothing. Functions that later issues call (payments:
`mark_funded`; disputes/escrow: `complete`, `refund`, `split`, `open_dispute`) are plain
service functions over `transition()`; they never commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.files import service as files
from bazaar.kit.db import utcnow
from bazaar.kit.errors import NotFound, RoleRequired, ValidationFailed
from bazaar.kit.tokens import registry
from bazaar.marketplace.categories import service as categories
from bazaar.marketplace.categories.errors import CategoryNotFound
from bazaar.marketplace.requests import repository as repo
from bazaar.marketplace.requests import state
from bazaar.marketplace.requests.errors import (
    NotTheBuyer,
    RequestNotEditable,
    RequestNotFound,
    TransitionNeedsInput,
)
from bazaar.marketplace.requests.lifecycle import (
    complete,
    deliver,
    due_to_expire,
    expire,
    funding_lapsed,
    mark_funded,
    open_dispute,
    refund,
    remove_unfunded,
    reopen,
    split,
    supersede_offers,
    unfunded_requests,
)
from bazaar.marketplace.requests.machine import check_transition, emit, notify_sellers, transition
from bazaar.marketplace.requests.schemas import RequestCreate, RequestUpdate
from bazaar.marketplace.requests.views import detail
from bazaar.models import Address, PurchaseRequest, User
from bazaar.models.marketplace import LIVE_OFFER_STATUSES
from bazaar.payments import service as payments
from bazaar.payments.errors import PaymentHeld
from bazaar.users import address_service as addresses

__all__ = [
    "accepted_seller_id",
    "cancel",
    "check_transition",
    "complete",
    "create_request",
    "deliver",
    "detail",
    "due_to_expire",
    "emit",
    "expire",
    "force_transition",
    "funding_lapsed",
    "get_readable",
    "get_unscoped",
    "lapsed",
    "mark_funded",
    "open_dispute",
    "publish",
    "refund",
    "remove_unfunded",
    "reopen",
    "require_buyer_role",
    "split",
    "supersede_offers",
    "transition",
    "unfunded_requests",
    "update_request",
]

# A request's whole life: at most this long from publication (from now for a draft),
# however often its buyer moves `expiresAt`.
MAX_LIFETIME = timedelta(days=90)
# What is bought: a change of any of these raises the request's terms version, and offers
# made against the older terms need their seller's re-confirmation (budget and expiry are
# the buyer's own limits, not terms an offer answers).
TERMS = ("title", "description", "category_id", "quantity", "currency", "is_digital")


# -- loading and visibility ------------------------------------------------------------------


async def get_readable(
    session: AsyncSession, ref: str | uuid.UUID, viewer: User | None, *, lock: bool = False
) -> PurchaseRequest:
    """A request the viewer may see (repository.readable_statement); anything else is 404,
    so existence is not revealed."""
    request = await repo.get_readable(session, ref, viewer, lock=lock)
    if request is None:
        raise RequestNotFound()
    return request


async def get_unscoped(
    session: AsyncSession, ref: str | uuid.UUID, *, lock: bool = False, share: bool = False
) -> PurchaseRequest:
    """A request whoever may see it, 404 when missing: for timers, admin code and flows
    that already decided the caller may act on it (e.g. re-reading it under a lock)."""
    request = await repo.get_unscoped(session, ref, lock=lock, share=share)
    if request is None:
        raise RequestNotFound()
    return request


async def accepted_seller_id(session: AsyncSession, request: PurchaseRequest) -> uuid.UUID | None:
    """The seller whose offer the buyer accepted (the other party of the deal), if any."""
    return await repo.accepted_seller_id(session, request)


def lapsed(request: PurchaseRequest, now: datetime) -> bool:
    """Open but past its deadline: the expiry sweep has not reached it yet."""
    return request.expires_at is not None and request.expires_at <= now


# -- create and edit -------------------------------------------------------------------------


async def _category_id(session: AsyncSession, ref: str | None) -> uuid.UUID | None:
    if ref is None:
        return None
    try:
        return (await categories.get_category(session, ref)).id
    except CategoryNotFound:
        raise ValidationFailed.on("categoryId", "category not found") from None


def _snapshot(address: Address) -> dict[str, Any]:
    """A copy of the address as it was: later edits of the address book do not move it."""
    return {
        "addressId": str(address.id),
        "label": address.label,
        "fullName": address.full_name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postalCode": address.postal_code,
        "country": address.country,
        "phone": address.phone,
    }


async def _delivery_address(session: AsyncSession, buyer: User, ref: str) -> dict[str, Any]:
    address = await addresses.find_address(session, buyer, ref)
    if address is None:
        raise NotFound("Address not found", code="ADDRESS_NOT_FOUND")
    return _snapshot(address)


def _check_budget(
    settings: Settings, currency: str, low: Decimal | None, high: Decimal | None
) -> None:
    """A known token, and a budget in it no finer than its decimals, min ≤ max."""
    tokens = registry(settings)
    tokens.token(currency)
    tokens.check_amount(currency, low, "budgetMin")
    tokens.check_amount(currency, high, "budgetMax")
    if low is not None and high is not None and low > high:
        raise ValidationFailed.on("budgetMax", "must be greater than or equal to budgetMin")


def require_buyer_role(user: User) -> None:
    """The one role rule for every path that creates a request or accepts an offer."""
    if not user.has_role("buyer"):
        raise RoleRequired.any_of("buyer")


def _check_expiry(at: datetime, now: datetime, published_at: datetime | None = None) -> datetime:
    """A deadline ahead of now and at most MAX_LIFETIME after publication (after now for a
    request not yet published)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at <= now:
        raise ValidationFailed.on("expiresAt", "must be in the future")
    if published_at is None and at > now + MAX_LIFETIME:
        raise ValidationFailed.on("expiresAt", "must be at most 90 days ahead")
    if published_at is not None and at > published_at + MAX_LIFETIME:
        latest = (published_at + MAX_LIFETIME).isoformat().replace("+00:00", "Z")
        raise ValidationFailed.on(
            "expiresAt",
            f"a request lives at most 90 days from its publication: no later than {latest}",
        )
    return at


async def create_request(
    session: AsyncSession,
    buyer: User,
    data: RequestCreate,
    *,
    target_shop_id: uuid.UUID | None = None,
    template_id: uuid.UUID | None = None,
    buyer_note: str | None = None,
    settings: Settings,
    now: datetime | None = None,
) -> PurchaseRequest:
    """A new request as a draft, or open at once with `data.publish` (buyer role).
    `buyer_note` is a private note to the target shop (template orders)."""
    now = now or utcnow()
    require_buyer_role(buyer)
    if data.is_digital and data.delivery_address_id:
        raise ValidationFailed.on("deliveryAddressId", "give an address or isDigital, not both")
    if not data.is_digital and not data.delivery_address_id:
        raise ValidationFailed.on(
            "deliveryAddressId", "a delivery address is required unless isDigital is true"
        )
    _check_budget(settings, data.currency, data.budget_min, data.budget_max)
    expires_at = _check_expiry(data.expires_at, now) if data.expires_at else None
    ttl = expires_at - now if expires_at else min(settings.request_default_ttl, MAX_LIFETIME)
    address = None
    if data.delivery_address_id:
        address = await _delivery_address(session, buyer, data.delivery_address_id)
    await files.check_refs(session, buyer, data.attachments, "attachment")
    request = PurchaseRequest(
        buyer_id=buyer.id,
        title=data.title,
        description=data.description,
        category_id=await _category_id(session, data.category_id),
        quantity=data.quantity,
        budget_min=data.budget_min,
        budget_max=data.budget_max,
        currency=data.currency,
        status=state.DRAFT,
        is_digital=data.is_digital,
        delivery_address=address,
        attachments=list(data.attachments),
        target_shop_id=target_shop_id,
        template_id=template_id,
        buyer_note=buyer_note or None,
        terms_version=1,
        ttl_seconds=int(ttl.total_seconds()),
        expires_at=expires_at,
        delivery_files=[],
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    await session.flush()
    await files.attach(session, data.attachments, "request", request.id)
    await repo.add_history(
        session,
        request.id,
        actor_id=buyer.id,
        role=state.BUYER,
        from_status=None,
        to_status=state.DRAFT,
        reason=None,
        now=now,
    )
    if data.publish:
        await publish(session, request, buyer, settings=settings, now=now)
    return request


async def update_request(
    session: AsyncSession,
    request: PurchaseRequest,
    actor: User,
    data: RequestUpdate,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> PurchaseRequest:
    """Edit a draft or an open request with no accepted offer (the buyer only; the caller
    read it under a row lock). A change of what is bought (TERMS, the delivery address)
    raises the terms version: sellers with a pending offer are told to re-confirm it."""
    now = now or utcnow()
    if actor.id != request.buyer_id:
        raise NotTheBuyer("Only the buyer can edit this request")
    editable = request.status in (state.DRAFT, state.OPEN) and request.accepted_offer_id is None
    if not editable or (request.status == state.OPEN and lapsed(request, now)):
        raise RequestNotEditable()
    given = data.model_fields_set
    new_address = data.delivery_address_id if "delivery_address_id" in given else None
    if data.is_digital and new_address:
        raise ValidationFailed.on("deliveryAddressId", "give an address or isDigital, not both")
    if data.is_digital is False and request.is_digital and not new_address:
        raise ValidationFailed.on("deliveryAddressId", "needed when switching off isDigital")
    before = {field: getattr(request, field) for field in TERMS}
    before_address = request.delivery_address
    for field in ("title", "description", "quantity", "currency", "budget_min", "budget_max"):
        if field in given:
            setattr(request, field, getattr(data, field))
    _check_budget(settings, request.currency, request.budget_min, request.budget_max)
    if "category_id" in given:
        request.category_id = await _category_id(session, data.category_id)
    if "attachments" in given and data.attachments is not None:
        kept = set(request.attachments or [])
        added = [ref for ref in data.attachments if ref not in kept]
        await files.check_refs(session, actor, added, "attachment")
        await files.attach(session, added, "request", request.id)
        request.attachments = list(data.attachments)
    if "expires_at" in given and data.expires_at is not None:
        request.expires_at = _check_expiry(data.expires_at, now, request.published_at)
        if request.status == state.DRAFT:
            request.ttl_seconds = int((request.expires_at - now).total_seconds())
    if data.is_digital:
        request.is_digital, request.delivery_address = True, None
    elif new_address:
        request.delivery_address = await _delivery_address(session, actor, new_address)
        request.is_digital = False
    terms_changed = request.delivery_address != before_address or any(
        getattr(request, field) != value for field, value in before.items()
    )
    if terms_changed:
        request.terms_version += 1
    request.updated_at = now
    await session.flush()
    if request.status == state.OPEN:
        sellers = [seller for _, seller in await _pending_offers(session, request)]
        info: dict[str, Any] = {"requestId": str(request.id), "title": request.title}
        if terms_changed:
            # Each pending offer now answers older terms: its seller re-confirms
            # (POST /offers/{id}/confirm) before the buyer can accept it.
            info["termsVersion"] = request.terms_version
            await notify_sellers(session, sellers, "request.terms_changed", info)
        else:
            await notify_sellers(session, sellers, "request.updated", info)
        await emit(session, f"request:{request.id}", "request:updated", info)
    return request


async def _pending_offers(
    session: AsyncSession, request: PurchaseRequest
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    offers = await repo.offers_of(session, request.id)
    return [(o.id, o.seller_id) for o in offers if o.status == "pending"]


# -- lifecycle -------------------------------------------------------------------------------


async def publish(
    session: AsyncSession,
    request: PurchaseRequest,
    actor: User,
    *,
    settings: Settings,
    now: datetime | None = None,
    force: bool = False,
    reason: str | None = None,
) -> PurchaseRequest:
    """draft → open (the buyer): visible to sellers, offers allowed, deadline fixed."""
    now = now or utcnow()
    await transition(
        session,
        request,
        state.OPEN,
        actor=actor,
        role=state.BUYER,
        reason=reason,
        force=force,
        now=now,
    )
    if request.expires_at is None or request.expires_at <= now:
        ttl = (
            timedelta(seconds=request.ttl_seconds)
            if request.ttl_seconds
            else settings.request_default_ttl
        )
        request.expires_at = now + min(ttl, MAX_LIFETIME)
    request.published_at = now
    await session.flush()
    return request


async def cancel(
    session: AsyncSession,
    request: PurchaseRequest,
    actor: User,
    *,
    reason: str | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> PurchaseRequest:
    """open/accepted → cancelled (buyer or admin, before funding): live offers and an unpaid
    payment are cancelled; 409 PAYMENT_IN_PROGRESS once money is arriving."""
    now = now or utcnow()
    is_buyer = actor.id == request.buyer_id
    role = state.ADMIN if not is_buyer and actor.has_role("admin") else state.BUYER
    await check_transition(session, request, state.CANCELLED, actor=actor, role=role, force=force)
    if (force or role == state.ADMIN) and not reason:
        raise ValidationFailed.on("reason", "an admin must give a reason")
    payment = None
    if request.status == state.ACCEPTED:
        payment = await payments.open_payment(session, request.id)
    accepted_seller = await repo.accepted_seller_id(session, request)
    await transition(
        session,
        request,
        state.CANCELLED,
        actor=actor,
        role=role,
        reason=reason,
        force=force,
        now=now,
    )
    closed = await repo.close_offers(session, request.id, LIVE_OFFER_STATUSES, "cancelled", now)
    # The accepted offer's seller was told by transition(); tell the others.
    others = [seller for _, seller in closed if seller != accepted_seller]
    info = {"requestId": str(request.id), "title": request.title, "reason": reason}
    await notify_sellers(session, others, "request.cancelled", info)
    payments.close_payment(payment, payments.CANCELLED, now)
    await session.flush()
    return request


async def force_transition(
    session: AsyncSession,
    request: PurchaseRequest,
    to_status: str,
    admin: User,
    reason: str,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> PurchaseRequest:
    """An admin moves a request along any edge of the table out of a non-final state,
    whoever that edge normally belongs to, with the edge's usual effects."""
    now = now or utcnow()
    from_status = request.status
    if state.is_final(from_status) or state.rule_for(from_status, to_status) is None:
        await check_transition(session, request, to_status, actor=admin, role=state.ADMIN)
    if (from_status, to_status) == (state.OPEN, state.ACCEPTED):
        raise TransitionNeedsInput("Accepting needs an offer: the buyer accepts one")
    common: dict[str, Any] = {"force": True, "reason": reason, "now": now}
    if to_status == state.OPEN and from_status == state.DRAFT:
        return await publish(session, request, admin, settings=settings, **common)
    if to_status == state.OPEN:
        return await reopen(session, request, actor=admin, **common)
    if to_status == state.EXPIRED:
        return await expire(session, request, actor=admin, **common)
    if to_status == state.CANCELLED:
        return await cancel(session, request, admin, **common)
    if to_status == state.FUNDED:
        return await mark_funded(session, request, actor=admin, settings=settings, **common)
    if to_status == state.DELIVERED:
        return await deliver(
            session, request, admin, note=None, files=[], settings=settings, **common
        )
    if await payments.held_payment_of(session, request.id) is not None:
        # Completing or refunding a request moves its money: only the escrow may do that.
        raise PaymentHeld()
    movers = {
        state.COMPLETED: complete,
        state.REFUNDED: refund,
        state.SPLIT: split,
        state.DISPUTED: open_dispute,
    }
    return await movers[to_status](session, request, actor=admin, role=state.ADMIN, **common)
