"""Payments: one per accepted offer (the payments issue adds provider, ledger, safety)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, Entity
from bazaar.kit.money import Money


class Payment(Entity, Base):
    __tablename__ = "payments"
    __table_args__ = (sa.Index("ix_payments_status_expires", "status", "expires_at"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("purchase_requests.id", ondelete="RESTRICT"), index=True
    )
    offer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("seller_offers.id", ondelete="RESTRICT"), unique=True
    )
    buyer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    seller_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    platform_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    currency: Mapped[str] = mapped_column(sa.String(16))
    # The chain and the token contract the money is sent on, resolved from the token
    # registry when the payment is created (kit/tokens.py); null only on rows older than it.
    network: Mapped[int | None]
    token_contract: Mapped[str | None] = mapped_column(sa.String(42))
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    expires_at: Mapped[datetime | None]
