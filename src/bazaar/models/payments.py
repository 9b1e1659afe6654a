"""Payments and what happens to them: one payment per accepted offer, its status moves
(`payment_events`), the chain transfers that fund it (`chain_transfers`, the inbox of chain
observations), the payouts its release/refund produce, and the confirmation thresholds.

The ledger's tables are in `models/ledger.py`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, Entity, JSONType
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
    # What has arrived on chain and been confirmed (token units; the ledger's fund total).
    amount_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    overpaid: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    paid_late: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The address the buyer paid from (first funding transfer) and the one refunds go to
    # (given by the buyer when paying; defaults to the sender).
    sender_address: Mapped[str | None] = mapped_column(sa.String(42))
    refund_address: Mapped[str | None] = mapped_column(sa.String(42))
    # Why a safety rule holds the payment in `awaiting_review`, and the guard's decision.
    review_reason: Mapped[str | None] = mapped_column(sa.String(500))
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)  # no FK: plain ADD COLUMN
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(sa.String(1000))
    held_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]  # released / refunded / split
    # When the reminder before the request's delivery / inspection deadline was sent
    # (payments/jobs.py sends each once; migration 0012).
    funding_reminded_at: Mapped[datetime | None]
    delivery_reminded_at: Mapped[datetime | None]
    inspection_reminded_at: Mapped[datetime | None]


class PaymentEvent(Base):
    """One move of a payment's status, with its cause (append-only history)."""

    __tablename__ = "payment_events"
    __table_args__ = (sa.Index("ix_payment_events_payment", "payment_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    # e.g. "chain.confirmed", "buyer.confirmed_delivery", "timer.inspection", "admin.refund"
    cause: Mapped[str] = mapped_column(sa.String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]


class ChainTransfer(Base):
    """A transaction a buyer says funds a payment: the inbox row of that chain observation.

    `(chain_id, tx_hash)` is unique, so one tx hash funds at most one payment, ever.
    Amounts are integer base units (text, exact on both databases).
    """

    __tablename__ = "chain_transfers"
    __table_args__ = (
        sa.UniqueConstraint("chain_id", "tx_hash"),
        sa.Index("ix_chain_transfers_status", "status", "next_check_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    chain_id: Mapped[int]
    tx_hash: Mapped[str] = mapped_column(sa.String(66))  # lower-case 0x…
    # submitted → confirming → confirmed | failed (a reorg moves confirming back)
    status: Mapped[str] = mapped_column(sa.String(16), default="submitted")
    from_address: Mapped[str | None] = mapped_column(sa.String(42))
    to_address: Mapped[str | None] = mapped_column(sa.String(42))
    token_contract: Mapped[str | None] = mapped_column(sa.String(42))
    amount_base_units: Mapped[str | None] = mapped_column(sa.String(80))
    block_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    block_hash: Mapped[str | None] = mapped_column(sa.String(66))
    confirmations: Mapped[int] = mapped_column(default=0)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    credited: Mapped[bool] = mapped_column(default=False)  # the ledger's fund is posted
    attempts: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payout(Base):
    """An instruction to send money out of escrow: to the seller (release) or the buyer
    (refund). With the `build-only` signer it carries an unsigned EIP-1559 transaction that
    an admin signs elsewhere and marks sent; Bazaar verifies it on chain before `done`."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.Index("ix_payouts_status", "status", "created_at"),
        # One payout per ledger movement and kind: a replayed release builds nothing twice
        # (a split has one release and one refund payout on the same transaction).
        sa.UniqueConstraint("ledger_transaction_id", "kind", name="uq_payouts_ledger_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))  # release | refund
    recipient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    to_address: Mapped[str] = mapped_column(sa.String(42))
    chain_id: Mapped[int]
    token_contract: Mapped[str] = mapped_column(sa.String(42))
    currency: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[Decimal] = mapped_column(Money())
    amount_base_units: Mapped[str] = mapped_column(sa.String(80))
    # built → sent → done | failed
    status: Mapped[str] = mapped_column(sa.String(16), default="built")
    unsigned_tx: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tx_hash: Mapped[str | None] = mapped_column(sa.String(66), unique=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    sent_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    # The verification sweep (payments/payouts/, migration 0013): when a sent payout is
    # checked next (also its claim), how many checks it had, the confirmations last seen.
    next_check_at: Mapped[datetime | None]
    checks: Mapped[int] = mapped_column(default=0, server_default="0")
    confirmations: Mapped[int] = mapped_column(default=0, server_default="0")


class ConfirmationThreshold(Base):
    """Confirmations required per (chain, token), editable by admins at runtime; a missing
    row falls back to the configured default."""

    __tablename__ = "confirmation_thresholds"

    chain_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    confirmations: Mapped[int]
    updated_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime]
