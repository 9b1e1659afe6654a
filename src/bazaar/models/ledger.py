"""The escrow ledger: double-entry and append-only (SPEC §5, payments/ledger/).

An account is (kind, owner, asset): `external` (the world outside Bazaar, one per asset),
`escrow_held` (owned by a payment), `seller_payable` / `buyer_refundable` (owned by a user),
`platform_fees` (no owner). The asset names the token on its chain: `USDC:1:0xA0b8…`.
A transaction's entries sum to zero per asset; entries are never updated or deleted (on
PostgreSQL triggers refuse it). Amounts are signed token units (Decimal, 18 places).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, JSONType
from bazaar.kit.money import Money


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # NULL owners (external, platform fees) are unique per asset through `owner_key`.
        sa.UniqueConstraint("kind", "owner_key", "asset"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(24))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    owner_key: Mapped[str] = mapped_column(sa.String(36))  # owner id as text, or "-"
    asset: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[datetime]


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    # A transaction is reversed at most once (migration 0010).
    __table_args__ = (sa.Index("uq_ledger_transactions_reverses_id", "reverses_id", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # fund | release | refund | split | payout | reversal
    kind: Mapped[str] = mapped_column(sa.String(16))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )
    cause: Mapped[str] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_entries_account", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ledger_accounts.id", ondelete="RESTRICT")
    )
    asset: Mapped[str] = mapped_column(sa.String(80))
    amount: Mapped[Decimal] = mapped_column(Money())  # signed: + debit, - credit
    created_at: Mapped[datetime]
