"""On-chain pay-in for the parties: the receiver, the buyer's tx hash, a verification pass."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Sessions
from bazaar.models import ChainTransfer, Payment, User
from bazaar.payments.chain import service as chain
from bazaar.payments.decentralized import repository
from bazaar.payments.decentralized.errors import BuyerOnly, PaymentNotFound
from bazaar.payments.providers.base import FundingProof, Receiver
from bazaar.payments.providers.onchain import provider


async def _readable(session: AsyncSession, payment_id: uuid.UUID, viewer: User) -> Payment:
    payment = await repository.payment_of_party(session, payment_id, viewer.id)
    if payment is None:
        raise PaymentNotFound()
    return payment


async def receiver(
    session: AsyncSession, payment_id: uuid.UUID, viewer: User, *, settings: Settings
) -> tuple[Payment, Receiver]:
    """Where and how much to send, for the buyer or the seller of the payment."""
    payment = await _readable(session, payment_id, viewer)
    return payment, provider.receiver(payment, settings)


async def save(
    session: AsyncSession,
    payment_id: uuid.UUID,
    buyer: User,
    *,
    tx_hash: str,
    refund_address: str | None,
    now: datetime,
    settings: Settings,
) -> ChainTransfer:
    """The buyer says "I paid with this transaction": stored for verification."""
    payment = await repository.payment_of_buyer_locked(session, payment_id, buyer.id)
    if payment is None:
        # The seller sees the payment (403); anyone else does not (404).
        await _readable(session, payment_id, buyer)
        raise BuyerOnly()
    proof = FundingProof(tx_hash=tx_hash, refund_address=refund_address)
    return await provider.accept(
        session, payment, proof, submitted_by=buyer.id, now=now, settings=settings
    )


async def verify(
    sessions: Sessions, payment_id: uuid.UUID, viewer: User, *, now: datetime, settings: Settings
) -> tuple[Payment, list[ChainTransfer]]:
    """Check the payment's open transactions on chain now (no transaction is open during
    the node's calls); the payment and its transfers afterwards."""
    await _readable(sessions.session(), payment_id, viewer)
    await provider.advance(sessions, payment_id, now=now, settings=settings)
    session = sessions.session()
    payment = await _readable(session, payment_id, viewer)
    return payment, await chain.of_payment(session, payment_id)
