"""`/api/payment`: the parties' payments (list, detail, CSV export), release and refund,
and the payment providers' health.

Every route is under RATE_LIMIT_PAYMENT except `GET /api/payment/{paymentId}`, which
checkout pages poll while a payment settles (kit/ratelimit.py exempts that one template).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse

from bazaar.auth.dependencies import CurrentUser, Idem
from bazaar.kit.deps import DatabaseDep, ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import InvalidStateTransition, RoleRequired, ValidationFailed
from bazaar.kit.idempotency import HEADER, Idempotency
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.ratelimit import limit_payment
from bazaar.kit.schemas import Envelope, ok
from bazaar.payments import service
from bazaar.payments.errors import (
    DeliveryNotConfirmable,
    NotThePaymentBuyer,
    NotThePaymentSeller,
    PaymentDisputed,
    PaymentNotFound,
    PaymentNotHeld,
    PaymentNotRefundable,
)
from bazaar.payments.ledger.errors import InsufficientHeldFunds, LedgerKeyReused, PaymentTerminal
from bazaar.payments.payouts.errors import PayoutNotBuildable, PayoutWalletMissing
from bazaar.payments.schemas import (
    HealthOut,
    PaymentDetail,
    PaymentSummary,
    RefundIn,
    Status,
)

router = APIRouter(dependencies=[Depends(limit_payment)])

_MONEY = (
    PaymentNotFound,
    InvalidStateTransition,
    InsufficientHeldFunds,
    PaymentTerminal,
    LedgerKeyReused,
    PayoutWalletMissing,
    PayoutNotBuildable,
    PaymentDisputed,
)


_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "CSV, one payment a row"}
}


def _require_key(idem: Idempotency) -> str:
    if idem.key is None:
        raise ValidationFailed.on(HEADER, "required: money moves only with an Idempotency-Key")
    return idem.key


@router.get("", response_model=Envelope[Page[PaymentSummary]], responses=errors(RoleRequired))
@router.get("/", include_in_schema=False, response_model=Envelope[Page[PaymentSummary]])
async def list_payments(
    user: CurrentUser,
    session: ReadSession,
    params: Pagination,
    status: Status | None = None,
    all_: Annotated[
        bool,
        Query(alias="all", description="Admins: every payment (the admin search), not only yours"),
    ] = False,
    q: Annotated[
        uuid.UUID | None,
        Query(description="Admins with all=true: a payment, request, buyer or seller id"),
    ] = None,
) -> Envelope[Page[PaymentSummary]]:
    """Your payments, as buyer or seller, newest first. Admins search every payment with
    `all=true` (403 `ROLE_REQUIRED` for anyone else), optionally narrowed by `q`."""
    rows, total = await service.list_payments(
        session, user, params, everyone=all_, status=status, q=q
    )
    items = [PaymentSummary.model_validate(p) for p in rows]
    return Envelope(data=Page[PaymentSummary].build(items, total, params))


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses=_CSV | errors(RoleRequired),
)
async def export_payments(
    user: CurrentUser,
    db: DatabaseDep,
    all_: Annotated[bool, Query(alias="all", description="Admins: every payment")] = False,
) -> StreamingResponse:
    """Your payments as CSV (as buyer or seller; the `role` column says which), oldest
    first, streamed. Admins export every payment with `all=true`."""
    if all_ and not user.has_role("admin"):
        raise RoleRequired.any_of("admin")
    rows = service.export_csv(db, user, everyone=all_)
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="payments.csv"'},
    )


@router.get("/health", response_model=Envelope[HealthOut])
async def provider_health(user: CurrentUser, settings: SettingsDep) -> Envelope[HealthOut]:
    """Which payment providers are configured, and whether each chain's node answers
    (one JSON-RPC call per chain, a few seconds at most)."""
    return Envelope(data=HealthOut.of(await service.health(settings)))


def _detail(view: service.PaymentView) -> PaymentDetail:
    return PaymentDetail.model_validate(
        {
            **PaymentSummary.model_validate(view.payment).model_dump(),
            "events": view.events,
            "transfers": view.transfers,
            "payouts": view.payouts,
        }
    )


async def _answer(
    session: WriteSession, payment_id: uuid.UUID, user: CurrentUser
) -> dict[str, Any]:
    payment = await service.get_readable(session, payment_id, user)
    detail = _detail(await service.view(session, payment, user))
    return ok(detail.model_dump(mode="json", by_alias=True))


@router.get(
    "/{payment_id}", response_model=Envelope[PaymentDetail], responses=errors(PaymentNotFound)
)
async def get_payment(
    payment_id: uuid.UUID, user: CurrentUser, session: ReadSession
) -> Envelope[PaymentDetail]:
    """One of your payments (buyer or seller; admins any) with its history, the chain
    transfers that fund it and its payouts to you. Not rate limited: poll it while paying."""
    payment = await service.get_readable(session, payment_id, user)
    return Envelope(data=_detail(await service.view(session, payment, user)))


@router.post(
    "/{payment_id}/release",
    response_model=Envelope[PaymentDetail],
    responses=errors(*_MONEY, NotThePaymentBuyer, PaymentNotHeld, DeliveryNotConfirmable),
)
async def release_payment(
    payment_id: uuid.UUID,
    user: CurrentUser,
    session: WriteSession,
    settings: SettingsDep,
    idem: Idem,
) -> JSONResponse:
    """Release the escrow to the seller: the buyer confirms the delivery (or an admin
    decides). The request must be `delivered`; it becomes `completed`, the seller is owed
    the price less the platform fee and a payout to their wallet is prepared.

    `Idempotency-Key` is required: the same key and body replay the first answer. However
    many releases race, the money moves once; the others get 409 `PAYMENT_NOT_HELD`."""
    if idem.replay:
        return idem.replay
    await service.get_readable(session, payment_id, user)  # 404 first: reveal nothing
    key = _require_key(idem)
    await service.release_by(session, payment_id, user, key=key, settings=settings)
    return await idem.save(session, await _answer(session, payment_id, user), 200)


@router.post(
    "/{payment_id}/refund",
    response_model=Envelope[PaymentDetail],
    responses=errors(*_MONEY, NotThePaymentSeller, PaymentNotRefundable),
)
async def refund_payment(
    payment_id: uuid.UUID,
    user: CurrentUser,
    session: WriteSession,
    settings: SettingsDep,
    idem: Idem,
    body: RefundIn | None = None,
) -> JSONResponse:
    """Refund the escrow to the buyer: the seller gives the money back (or an admin
    decides, with a `reason`). A held payment's request becomes `refunded`; the buyer's
    refund address (else the address they paid from) gets a payout.

    `Idempotency-Key` is required: the same key and body replay the first answer."""
    if idem.replay:
        return idem.replay
    await service.get_readable(session, payment_id, user)  # 404 first: reveal nothing
    key = _require_key(idem)
    reason = body.reason if body else None
    await service.refund_by(session, payment_id, user, key=key, reason=reason, settings=settings)
    return await idem.save(session, await _answer(session, payment_id, user), 200)
