"""`/api/payment/decentralized`: pay on chain yourself, then tell Bazaar the transaction.

1. `GET /receiver?paymentId=` — where to send, which token contract, how much is due.
2. Send the ERC-20 transfer from your wallet.
3. `POST /save` with the transaction hash (and a refund address if it should not be the
   sender).
4. `POST /verify` (or wait: the worker checks every few seconds) until the payment is
   `held`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from bazaar.auth.dependencies import CurrentUser, Idem
from bazaar.kit.db import utcnow
from bazaar.kit.deps import ReadSession, SettingsDep, Staged, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.ratelimit import limit_payment
from bazaar.kit.schemas import Envelope, ok
from bazaar.payments.chain.errors import ChainRequestRefused, ChainUnavailable
from bazaar.payments.decentralized import service
from bazaar.payments.decentralized.errors import (
    BuyerOnly,
    OnchainNotAvailable,
    PaymentNotAwaitingFunds,
    PaymentNotFound,
    ProviderMismatch,
    TxHashUsed,
)
from bazaar.payments.decentralized.schemas import (
    ReceiverOut,
    SaveTransaction,
    TransferOut,
    VerifyOut,
    VerifyPayment,
)
from bazaar.payments.errors import TokenNotPayable
from bazaar.payments.schemas import PaymentOut

router = APIRouter(dependencies=[Depends(limit_payment)])


@router.get(
    "/receiver",
    response_model=Envelope[ReceiverOut],
    responses=errors(PaymentNotFound, OnchainNotAvailable, TokenNotPayable),
)
async def get_receiver(
    user: CurrentUser,
    session: ReadSession,
    settings: SettingsDep,
    payment_id: Annotated[uuid.UUID, Query(alias="paymentId")],
) -> Envelope[ReceiverOut]:
    """Where to send a payment's tokens (buyer or seller of the payment): the receiver
    address, the chain, the token contract and its decimals, and the amount still due in
    token units and base units. Another user's payment is 404."""
    payment, to = await service.receiver(session, payment_id, user, settings=settings)
    return Envelope(
        data=ReceiverOut(
            payment_id=payment.id,
            address=to.address,
            chain_id=to.chain_id,
            token_contract=to.token_contract,
            currency=to.currency,
            decimals=to.decimals,
            amount=to.amount,
            amount_due=to.amount_due,
            amount_due_base_units=str(to.amount_due_base_units),
            status=payment.status,
        )
    )


@router.post(
    "/save",
    response_model=Envelope[TransferOut],
    responses=errors(
        PaymentNotFound,
        BuyerOnly,
        TxHashUsed,
        PaymentNotAwaitingFunds,
        ProviderMismatch,
        OnchainNotAvailable,
        TokenNotPayable,
    ),
)
async def save_transaction(
    body: SaveTransaction,
    user: CurrentUser,
    session: WriteSession,
    settings: SettingsDep,
    idem: Idem,
) -> JSONResponse:
    """Submit the transaction that pays a payment: its buyer only, while the payment is
    pending, partially paid or confirming (a top-up need not wait for an earlier transfer's
    confirmations). It is checked on chain by `POST /verify` and by the worker. A
    transaction hash funds one payment ever: submitting it for another is 409
    `TX_HASH_USED`; the same hash again for the same payment answers its stored transfer.
    `refundAddress` is where a refund goes (default: the address that sent the tokens)."""
    if idem.replay:
        return idem.replay
    transfer = await service.save(
        session,
        body.payment_id,
        user,
        tx_hash=body.tx_hash,
        refund_address=body.refund_address,
        now=utcnow(),
        settings=settings,
    )
    return await idem.save(session, ok(TransferOut.model_validate(transfer)))


@router.post(
    "/verify",
    response_model=Envelope[VerifyOut],
    responses=errors(PaymentNotFound, ChainUnavailable, ChainRequestRefused, TokenNotPayable),
)
async def verify_payment(
    body: VerifyPayment, user: CurrentUser, staged: Staged, settings: SettingsDep
) -> Envelope[VerifyOut]:
    """Check the payment's submitted transactions on chain now (buyer or seller) and
    answer the payment with its transfers: receipt status, token contract, recipient,
    amount and confirmations; enough confirmations put the money in escrow. Safe to repeat
    (it only records what the chain says), so it takes no Idempotency-Key. A node that is
    down or too slow is 503 `CHAIN_UNAVAILABLE` with nothing changed; the worker retries."""
    payment, transfers = await service.verify(
        staged, body.payment_id, user, now=utcnow(), settings=settings
    )
    return Envelope(
        data=VerifyOut(
            payment=PaymentOut.model_validate(payment),
            transfers=[TransferOut.model_validate(t) for t in transfers],
        )
    )
