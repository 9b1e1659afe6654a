"""`/api/marketplace/requests`: purchase requests, their search and their lifecycle."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

import bazaar.marketplace.jobs  # noqa: F401  (registers the marketplace timers)
from bazaar.files.errors import FileNotFound, FileRefInvalid
from bazaar.kit.deps import DatabaseDep, ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import InvalidStateTransition, NotFound, Unauthorized, ValidationFailed
from bazaar.kit.fields import AMOUNT_TEXT, safe_text
from bazaar.kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from bazaar.kit.money import to_decimal
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope, ok
from bazaar.marketplace.auth import Admin, Buyer, IdempotencyKey, SignedIn, Viewer
from bazaar.marketplace.requests import service, views
from bazaar.marketplace.requests.errors import (
    NotTheBuyer,
    RequestNotEditable,
    RequestNotFound,
    TransitionForbidden,
    TransitionNeedsInput,
)
from bazaar.marketplace.requests.schemas import (
    CancelRequest,
    Delivery,
    ForceTransition,
    RequestCreate,
    RequestDetail,
    RequestSummary,
    RequestUpdate,
    Sort,
    Status,
)
from bazaar.payments import service as payments
from bazaar.payments.errors import (
    DeliveryNotConfirmable,
    NotThePaymentBuyer,
    PaymentDisputed,
    PaymentHeld,
    PaymentNotHeld,
)
from bazaar.payments.ledger.errors import InsufficientHeldFunds, PaymentTerminal
from bazaar.payments.payouts.errors import PayoutNotBuildable, PayoutWalletMissing

router = APIRouter()

SEARCH_MAX = 200
# What `_money_param` takes, stated for clients: blank (no bound) or a decimal amount.
_AMOUNT: dict[str, Any] = {"json_schema_extra": {"pattern": rf"^\s*$|{AMOUNT_TEXT}"}}

# Documentation only (each request raises its own instance).
_SIGN_IN_FOR_MINE = Unauthorized("Sign in to list your own requests (`mine=true`)")
_ADDRESS_NOT_FOUND = NotFound("Address not found", code="ADDRESS_NOT_FOUND")
# Every move of the state machine (machine.py).
_TRANSITION = (RequestNotFound, TransitionForbidden, InvalidStateTransition)


def _money_param(name: str, value: str | None) -> Decimal | None:
    if value is None or not value.strip():
        return None
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError):
        raise ValidationFailed.on(name, "must be a decimal number, e.g. 25.50") from None
    if amount < 0:
        raise ValidationFailed.on(name, "must not be negative")
    return amount


@router.get("", response_model=Envelope[Page[RequestSummary]], responses=errors(_SIGN_IN_FOR_MINE))
@router.get("/", include_in_schema=False, response_model=Envelope[Page[RequestSummary]])
async def list_requests(
    session: ReadSession,
    db: DatabaseDep,
    viewer: Viewer,
    params: Pagination,
    q: Annotated[
        str | None,
        Query(
            max_length=SEARCH_MAX,
            description="Words in the title or description; every word must occur (whole "
            "words, English stems, case and accents ignored). Punctuation, quotes, `-` and "
            "`or` are no operators: they separate or are plain words.",
        ),
    ] = None,
    status: Annotated[Status | None, Query(description="Default `open`")] = None,
    category_id: Annotated[
        str | None,
        Query(alias="categoryId", max_length=120, description="Includes its sub-categories"),
    ] = None,
    budget_min: Annotated[str | None, Query(alias="budgetMin", max_length=60, **_AMOUNT)] = None,
    budget_max: Annotated[str | None, Query(alias="budgetMax", max_length=60, **_AMOUNT)] = None,
    currency: Annotated[str | None, Query(max_length=16, pattern=r"^[A-Za-z0-9.]*$")] = None,
    mine: Annotated[bool, Query(description="Only your own requests, drafts included")] = False,
    sort: Sort = "newest",
) -> Envelope[Page[RequestSummary]]:
    """Search purchase requests.

    Anyone sees `open` requests whose deadline has not passed. `mine=true` (signed in)
    lists your own requests in every state, drafts included; admins may pass another
    `status` to list those. `q` matches words in the title and description (all words must
    match; English stemming, so "phones" finds "phone"). `budgetMin`/`budgetMax` keep
    requests whose budget range overlaps the given one. `sort`: `newest`, `budget_asc`,
    `budget_desc`, `ending_soon`.
    """
    if mine and viewer is None:
        raise Unauthorized("Sign in to list your own requests")
    text = q.strip() if q else None
    if text:
        try:
            safe_text(text)
        except ValueError as exc:
            raise ValidationFailed.on("q", str(exc)) from None
    low = _money_param("budgetMin", budget_min)
    high = _money_param("budgetMax", budget_max)
    if low is not None and high is not None and low > high:
        raise ValidationFailed.on("budgetMax", "must be greater than or equal to budgetMin")
    page = await views.list_page(
        session,
        viewer,
        params,
        q=text or None,
        status=status,
        category_ref=category_id,
        budget_min=low,
        budget_max=high,
        currency=currency.strip().upper() if currency and currency.strip() else None,
        mine=mine,
        sort=sort,
        backend=db.backend,
    )
    return Envelope(data=page)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[RequestDetail],
    responses=errors(_ADDRESS_NOT_FOUND, FileNotFound, FileRefInvalid),
)
@router.post("/", status_code=201, include_in_schema=False, response_model=Envelope[RequestDetail])
async def create_request(
    body: RequestCreate, buyer: Buyer, session: WriteSession, settings: SettingsDep
) -> Envelope[RequestDetail]:
    """Create a purchase request (buyer role) as a draft, or open at once with `publish`.

    Delivery is `deliveryAddressId` (one of your addresses; a copy is kept on the request)
    or `isDigital: true`. `expiresAt` defaults to now + REQUEST_DEFAULT_TTL (7 days) and
    may be at most 90 days ahead. Amounts are decimal strings.
    """
    request = await service.create_request(session, buyer, body, settings=settings)
    return Envelope(data=await views.detail(session, request, buyer))


@router.get("/{ref}", response_model=Envelope[RequestDetail], responses=errors(RequestNotFound))
async def get_request(ref: str, viewer: Viewer, session: ReadSession) -> Envelope[RequestDetail]:
    """One request by UUID or legacy id, with its history and offer count.

    Drafts are visible to their buyer only; requests past `open` to the buyer, sellers who
    offered and admins (others get 404). The buyer (and admins) also get every offer, a
    seller their own; the full delivery address is for the buyer, the accepted seller and
    admins.
    """
    request = await service.get_readable(session, ref, viewer)
    return Envelope(data=await views.detail(session, request, viewer))


@router.patch(
    "/{ref}",
    response_model=Envelope[RequestDetail],
    responses=errors(
        RequestNotFound,
        NotTheBuyer,
        RequestNotEditable,
        _ADDRESS_NOT_FOUND,
        FileNotFound,
        FileRefInvalid,
    ),
)
async def update_request(
    ref: str, body: RequestUpdate, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[RequestDetail]:
    """Edit your request while it is a draft or open with no accepted offer.

    Sellers with a pending offer are notified of the change. 409 `REQUEST_NOT_EDITABLE`
    in any other state.
    """
    request = await service.get_readable(session, ref, user, lock=True)
    await service.update_request(session, request, user, body, settings=settings)
    return Envelope(data=await views.detail(session, request, user))


@router.post(
    "/{ref}/publish", response_model=Envelope[RequestDetail], responses=errors(*_TRANSITION)
)
async def publish_request(
    ref: str, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[RequestDetail]:
    """Publish your draft: it becomes `open`, visible to sellers, and its deadline is set."""
    request = await service.get_readable(session, ref, user, lock=True)
    await service.publish(session, request, user, settings=settings)
    return Envelope(data=await views.detail(session, request, user))


@router.post(
    "/{ref}/cancel", response_model=Envelope[RequestDetail], responses=errors(*_TRANSITION)
)
async def cancel_request(
    ref: str, user: SignedIn, session: WriteSession, body: CancelRequest | None = None
) -> Envelope[RequestDetail]:
    """Cancel an open or accepted (not yet funded) request: the buyer, or an admin with a
    `reason`. Live offers and an unpaid payment are cancelled; once money is arriving the
    answer is 409 `PAYMENT_IN_PROGRESS`."""
    request = await service.get_readable(session, ref, user, lock=True)
    reason = body.reason if body else None
    await service.cancel(session, request, user, reason=reason)
    return Envelope(data=await views.detail(session, request, user))


@router.post(
    "/{ref}/deliver",
    response_model=Envelope[RequestDetail],
    responses=errors(*_TRANSITION, FileNotFound, FileRefInvalid),
)
async def deliver_request(
    ref: str, body: Delivery, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[RequestDetail]:
    """Mark a funded request delivered (the seller of the accepted offer), with a note
    and/or proof files. The buyer's inspection window (INSPECTION_PERIOD) starts."""
    request = await service.get_readable(session, ref, user, lock=True)
    await service.deliver(
        session, request, user, note=body.note, files=body.files, settings=settings
    )
    return Envelope(data=await views.detail(session, request, user))


@router.post(
    "/{ref}/complete",
    response_model=Envelope[RequestDetail],
    responses=errors(
        RequestNotFound,
        NotThePaymentBuyer,
        DeliveryNotConfirmable,
        PaymentNotHeld,
        PaymentDisputed,
        InvalidStateTransition,
        InsufficientHeldFunds,
        PaymentTerminal,
        PayoutWalletMissing,
        PayoutNotBuildable,
    ),
)
async def complete_request(
    ref: str, user: SignedIn, session: WriteSession, settings: SettingsDep, idem: IdempotencyKey
) -> JSONResponse:
    """Confirm the delivery of a delivered request (its buyer, or an admin): the escrow is
    released to the seller (less the platform fee) and the request becomes `completed`.
    Same as `POST /api/payment/{paymentId}/release`.

    `Idempotency-Key` is required; the same key and body replay the first answer."""
    if idem.replay:
        return idem.replay
    request = await service.get_readable(session, ref, user)
    if idem.key is None:
        raise ValidationFailed.on(IDEMPOTENCY_HEADER, "required: money moves only with a key")
    payment = await payments.held_payment_of(session, request.id)
    if payment is None:
        raise DeliveryNotConfirmable(details={"requestStatus": request.status})
    await payments.release_by(session, payment.id, user, key=idem.key, settings=settings)
    detail = await views.detail(session, request, user)
    return await idem.save(session, ok(detail.model_dump(mode="json", by_alias=True)), 200)


@router.post(
    "/{ref}/force-transition",
    response_model=Envelope[RequestDetail],
    responses=errors(*_TRANSITION, TransitionNeedsInput, PaymentHeld),
)
async def force_transition(
    ref: str, body: ForceTransition, admin: Admin, session: WriteSession, settings: SettingsDep
) -> Envelope[RequestDetail]:
    """Admin: move a request along any edge of the state table out of a non-final state,
    with a reason (recorded in the history). Final states answer 409; `open → accepted`
    needs an offer and answers 409 `TRANSITION_NEEDS_INPUT`."""
    # Any request, drafts too: the admin role is the authorization.
    request = await service.get_unscoped(session, ref, lock=True)
    await service.force_transition(session, request, body.to, admin, body.reason, settings=settings)
    return Envelope(data=await views.detail(session, request, admin))
