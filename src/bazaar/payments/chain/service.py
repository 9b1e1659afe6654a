"""The chain package's service for other payment packages: storing a buyer's transaction
(the inbox row of a chain observation) and reading a payment's transfers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import ChainTransfer
from bazaar.payments.chain import repository
from bazaar.payments.chain.errors import TxHashUsed

SUBMITTED = repository.SUBMITTED


async def find(session: AsyncSession, chain_id: int, tx_hash: str) -> ChainTransfer | None:
    """The transfer stored for this transaction, whichever payment it is for."""
    return await repository.by_hash(session, chain_id, tx_hash.lower())


async def submit(
    session: AsyncSession,
    *,
    payment_id: uuid.UUID,
    chain_id: int,
    tx_hash: str,
    receiver: str,
    token_contract: str,
    submitted_by: uuid.UUID,
    now: datetime,
) -> ChainTransfer:
    """Store a transaction that should pay `payment_id`, to be verified. One transaction
    funds at most one payment, ever, and a payout's transaction never funds one: 409
    TX_HASH_USED (also when a concurrent submit of the same hash committed first)."""
    tx_hash = tx_hash.lower()
    if await repository.is_payout_hash(session, chain_id, tx_hash):
        raise TxHashUsed()  # money out of escrow never counts as money in
    transfer = ChainTransfer(
        payment_id=payment_id,
        chain_id=chain_id,
        tx_hash=tx_hash,
        status=SUBMITTED,
        # What the transfer must pay to, as shown to the buyer when they paid.
        to_address=receiver,
        token_contract=token_contract,
        submitted_by=submitted_by,
        credited=False,
        attempts=0,
        confirmations=0,
        next_check_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(transfer)
    except IntegrityError:
        raise TxHashUsed() from None
    return transfer


async def of_payment(session: AsyncSession, payment_id: uuid.UUID) -> list[ChainTransfer]:
    """The payment's transfers, oldest first."""
    return await repository.of_payment(session, payment_id)
