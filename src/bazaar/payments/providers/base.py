"""The interface every pay-in provider implements (ARCHITECTURE rule 1: vendor code behind
a small interface, one file per provider).

A provider answers three questions about a payment:

- `receiver(payment)`: where and how much the buyer sends (address, chain, token, amount);
- `accept(session, payment, proof, ...)`: store the buyer's funding proof (a tx hash, a
  provider's payment reference) as an inbox row, idempotently, without network I/O;
- `advance(db, payment_id, ...)`: check the proofs against the outside world (claim, call
  out with no transaction open, record in a short transaction) and credit what is
  confirmed: the ledger's `fund`, then `escrow.on_funds_confirmed` decides the status.

The on-chain provider (`onchain.py`) is the first; Request Network (a payment reference and
webhooks) and derived deposit addresses (a scanner instead of a buyer's proof) fit the same
three calls.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Transactions
from bazaar.models import ChainTransfer, Payment


@dataclass(frozen=True)
class Receiver:
    """Where the buyer sends a payment's money, and how much is still due."""

    address: str
    chain_id: int
    token_contract: str
    currency: str
    decimals: int
    amount: Decimal  # the payment's amount, token units
    amount_due: Decimal  # what is still missing: amount − confirmed payments, never < 0
    amount_due_base_units: int


@dataclass(frozen=True)
class FundingProof:
    """What the buyer submits to say "I paid": a transaction hash on the payment's chain,
    and optionally where a refund should go."""

    tx_hash: str
    refund_address: str | None = None


@dataclass(frozen=True)
class AdvanceOutcome:
    """What one verification pass did: transfers it looked at, and how they ended."""

    checked: int
    credited: int
    failed: int
    waiting: int
    unavailable: str | None = None  # the node could not be reached: why


class PaymentProvider(ABC):
    name: str

    @abstractmethod
    def receiver(self, payment: Payment, settings: Settings) -> Receiver:
        """The address and amount the buyer pays, or a typed error when this provider
        cannot take the payment (no receiver configured for its chain and token)."""

    @abstractmethod
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
        """Store the proof (inbox row, unique per external id); no network I/O."""

    @abstractmethod
    async def advance(
        self, db: Transactions, payment_id: uuid.UUID, *, now: datetime, settings: Settings
    ) -> AdvanceOutcome:
        """Verify the payment's open proofs now and credit what is confirmed."""
