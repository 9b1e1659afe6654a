"""`/api/admin/payouts`: the payout instructions releases and refunds produce (admin only):
fetch the unsigned transaction, sign it elsewhere, mark it sent with its hash."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from bazaar.auth.dependencies import AdminUser, Idem
from bazaar.kit.db import utcnow
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope, ok
from bazaar.payments.payouts import service
from bazaar.payments.payouts.errors import (
    PayoutAlreadySent,
    PayoutDone,
    PayoutNotFound,
    PayoutTxHashUsed,
)
from bazaar.payments.payouts.schemas import (
    MarkSent,
    PayoutDetail,
    PayoutKind,
    PayoutOut,
    PayoutStatus,
)

router = APIRouter()


def _id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise PayoutNotFound() from None


@router.get("", response_model=Envelope[Page[PayoutOut]])
async def list_payouts(
    admin: AdminUser,
    session: ReadSession,
    params: Pagination,
    status: Annotated[PayoutStatus | None, Query(description="Only payouts in this state")] = None,
    kind: Annotated[PayoutKind | None, Query(description="release or refund")] = None,
    payment_id: Annotated[
        uuid.UUID | None, Query(alias="paymentId", description="Only this payment's payouts")
    ] = None,
) -> Envelope[Page[PayoutOut]]:
    """Payouts, newest first: `status=built` lists the ones waiting to be signed."""
    rows, total = await service.search(
        session, params, status=status, payment_id=payment_id, kind=kind
    )
    items = [PayoutOut.model_validate(row) for row in rows]
    return Envelope(data=Page[PayoutOut].build(items, total, params))


@router.get("/{payout_id}", response_model=Envelope[PayoutDetail], responses=errors(PayoutNotFound))
async def get_payout(
    payout_id: str, admin: AdminUser, session: ReadSession
) -> Envelope[PayoutDetail]:
    """One payout with its unsigned EIP-1559 transaction, for the signer. Set `nonce`,
    `maxFeePerGas` and `maxPriorityFeePerGas`, sign with the treasury (escrow) key, send
    it, then mark the payout sent with the transaction hash."""
    payout = await service.get_unscoped(session, _id(payout_id))
    return Envelope(data=PayoutDetail.model_validate(payout))


@router.post(
    "/{payout_id}/sent",
    response_model=Envelope[PayoutDetail],
    responses=errors(PayoutNotFound, PayoutAlreadySent, PayoutDone, PayoutTxHashUsed),
)
async def mark_sent(
    payout_id: str, body: MarkSent, admin: AdminUser, session: WriteSession, idem: Idem
) -> JSONResponse:
    """Record the hash of the transaction you sent for a built payout. Bazaar then checks
    it on chain: when it succeeded and moved exactly this amount of the token to the
    payout address, with enough confirmations, the payout is `done`; otherwise it goes
    back to `built` with `failureReason` and can be sent again. The same hash again
    changes nothing; a payout already sent with another hash is 409
    `PAYOUT_ALREADY_SENT`; a hash another payout (or a funding transfer) has is 409
    `PAYOUT_TX_HASH_USED`. Accepts an `Idempotency-Key`."""
    if idem.replay:
        return idem.replay
    payout = await service.mark_sent(
        session, _id(payout_id), body.tx_hash, actor_id=admin.id, now=utcnow()
    )
    data = PayoutDetail.model_validate(payout).model_dump(mode="json", by_alias=True)
    return await idem.save(session, ok(data), 200)
