"""`/api/admin/payments`: the payments transaction safety holds back, and the guard's
decision on each (guard or admin role)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from bazaar.auth.dependencies import GuardUser, Idem
from bazaar.kit.db import utcnow
from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.fields import Currency
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope, ok
from bazaar.payments.ledger import InsufficientHeldFunds
from bazaar.payments.payouts.errors import PayoutNotBuildable
from bazaar.payments.safety import service as safety
from bazaar.payments.safety.errors import NotApprovable, NotAwaitingReview, PaymentNotFound
from bazaar.payments.safety.schemas import ApproveIn, RejectIn, ReviewPaymentOut

router = APIRouter()


def _id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise PaymentNotFound() from None


@router.get("/awaiting-confirmation", response_model=Envelope[Page[ReviewPaymentOut]])
async def awaiting_confirmation(
    guard: GuardUser,
    session: ReadSession,
    params: Pagination,
    currency: Annotated[Currency | None, Query(description="Only payments in this token")] = None,
) -> Envelope[Page[ReviewPaymentOut]]:
    """Payments a safety rule holds in `awaiting_review` (deny-listed sender, above the
    per-payment or the buyer's daily limit), longest waiting first, each with its
    `reviewReason`. Guards and admins."""
    rows, total = await safety.review_queue(session, params, currency=currency)
    items = [ReviewPaymentOut.model_validate(row) for row in rows]
    return Envelope(data=Page[ReviewPaymentOut].build(items, total, params))


@router.post(
    "/{payment_id}/approve",
    response_model=Envelope[ReviewPaymentOut],
    responses=errors(PaymentNotFound, NotAwaitingReview, NotApprovable),
)
async def approve(
    payment_id: str,
    guard: GuardUser,
    session: WriteSession,
    settings: SettingsDep,
    idem: Idem,
    body: ApproveIn | None = None,
) -> JSONResponse:
    """Let a held-back payment's money into escrow: the payment becomes `held` and its
    request `funded`, with your optional `note` on record. 409
    `PAYMENT_NOT_AWAITING_REVIEW` when it is not waiting for review, 409
    `PAYMENT_NOT_APPROVABLE` when its request no longer waits for it (paid after it
    expired or was cancelled) or it is not paid in full: reject those. Accepts an
    `Idempotency-Key`."""
    if idem.replay:
        return idem.replay
    payment = await safety.approve(
        session,
        _id(payment_id),
        guard=guard,
        note=body.note if body else None,
        now=utcnow(),
        settings=settings,
    )
    data = ReviewPaymentOut.model_validate(payment).model_dump(mode="json", by_alias=True)
    return await idem.save(session, ok(data), 200)


@router.post(
    "/{payment_id}/reject",
    response_model=Envelope[ReviewPaymentOut],
    responses=errors(PaymentNotFound, NotAwaitingReview, InsufficientHeldFunds, PayoutNotBuildable),
)
async def reject(
    payment_id: str,
    body: RejectIn,
    guard: GuardUser,
    session: WriteSession,
    settings: SettingsDep,
    idem: Idem,
) -> JSONResponse:
    """Refuse a held-back payment with a `reason` (required): everything paid is refunded
    to the buyer's refund address (a payout instruction for an admin to sign) and the
    payment becomes `refunded`. 409 `PAYMENT_NOT_AWAITING_REVIEW` when it is not waiting
    for review. Accepts an `Idempotency-Key`."""
    if idem.replay:
        return idem.replay
    payment = await safety.reject(
        session, _id(payment_id), guard=guard, reason=body.reason, now=utcnow(), settings=settings
    )
    data = ReviewPaymentOut.model_validate(payment).model_dump(mode="json", by_alias=True)
    return await idem.save(session, ok(data), 200)
