"""The on-chain provider: the buyer sends the ERC-20 transfer to a receiver address
themselves and submits the transaction hash; Bazaar verifies it over JSON-RPC.

The receiver comes from configuration: ONCHAIN_RECEIVERS for "<chainId>:<SYMBOL>", then
for "<chainId>", then ONCHAIN_RECEIVER_ADDRESS. Without one for a payment's chain and token,
on-chain pay-in is refused for it (409 ONCHAIN_NOT_AVAILABLE).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Transactions
from bazaar.models import ChainTransfer, Payment
from bazaar.payments import funding
from bazaar.payments.chain import service as chain
from bazaar.payments.decentralized.errors import (
    OnchainNotAvailable,
    PaymentNotAwaitingFunds,
    ProviderMismatch,
    TxHashUsed,
)
from bazaar.payments.providers.base import (
    AdvanceOutcome,
    FundingProof,
    PaymentProvider,
    Receiver,
)

NAME = "onchain"
# A payment takes (more) money on chain only while it waits for it: also while an earlier
# transfer is still confirming (a top-up need not wait for the first one's confirmations).
AWAITING_FUNDS = ("pending", "partially_paid", "confirming")


def receiver_address(settings: Settings, chain_id: int, currency: str) -> str | None:
    """The configured receiver for a chain and token, most specific first."""
    receivers = settings.onchain_receivers
    return (
        receivers.get(f"{chain_id}:{currency.upper()}")
        or receivers.get(str(chain_id))
        or settings.onchain_receiver_address
    )


class OnchainProvider(PaymentProvider):
    name = NAME

    def receiver(self, payment: Payment, settings: Settings) -> Receiver:
        address = (
            receiver_address(settings, payment.network, payment.currency)
            if payment.network is not None
            else None
        )
        if address is None or payment.token_contract is None or payment.network is None:
            raise OnchainNotAvailable()
        decimals = funding.decimals_of(payment, settings)
        due = max(Decimal(0), payment.amount - (payment.amount_paid or Decimal(0)))
        return Receiver(
            address=address,
            chain_id=payment.network,
            token_contract=payment.token_contract,
            currency=payment.currency,
            decimals=decimals,
            amount=payment.amount,
            amount_due=due,
            amount_due_base_units=funding.to_base_units(due, decimals),
        )

    async def accept(
        self,
        session: AsyncSession,
        payment: Payment,
        proof: FundingProof,
        *,
        submitted_by: uuid.UUID,
        now: datetime,
        settings: Settings,
    ) -> ChainTransfer:
        """Store the buyer's tx hash for `payment` (locked by the caller). The same hash
        again for the same payment returns its row; for any other payment, 409
        TX_HASH_USED: one transaction funds at most one payment, ever."""
        if payment.provider not in (None, NAME):
            raise ProviderMismatch()
        to = self.receiver(payment, settings)
        tx_hash = proof.tx_hash.lower()
        existing = await chain.find(session, to.chain_id, tx_hash)
        if existing is not None:
            if existing.payment_id != payment.id:
                raise TxHashUsed()
            self._remember(payment, proof, now)
            return existing
        if payment.status not in AWAITING_FUNDS:
            raise PaymentNotAwaitingFunds()
        transfer = await chain.submit(
            session,
            payment_id=payment.id,
            chain_id=to.chain_id,
            tx_hash=tx_hash,
            receiver=to.address,
            token_contract=to.token_contract,
            submitted_by=submitted_by,
            now=now,
        )
        self._remember(payment, proof, now)
        return transfer

    @staticmethod
    def _remember(payment: Payment, proof: FundingProof, now: datetime) -> None:
        payment.provider = NAME
        if proof.refund_address:
            payment.refund_address = proof.refund_address
        payment.updated_at = now

    async def advance(
        self, db: Transactions, payment_id: uuid.UUID, *, now: datetime, settings: Settings
    ) -> AdvanceOutcome:
        return await funding.verify_payment(db, payment_id, now=now, settings=settings)


provider = OnchainProvider()
