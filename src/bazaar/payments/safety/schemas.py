"""Transaction-safety request bodies and responses (admin, guard)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from bazaar.kit.fields import Currency, MultiLine, VisibleText
from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.payments.safety.rules import MAX_CONFIRMATIONS

NOTE_MAX = 1000


class ThresholdOut(Schema):
    chain_id: int
    network: str | None = Field(description="The chain's name, when Bazaar knows it")
    currency: str
    confirmations: int
    source: str = Field(
        description="admin (stored here), config (TRANSACTION_SAFETY_CONFIRMATIONS) or "
        "default (TRANSACTION_SAFETY_DEFAULT_CONFIRMATIONS)"
    )
    updated_by: uuid.UUID | None = None
    updated_at: datetime | None = None


class ThresholdsOut(Schema):
    default: int = Field(description="TRANSACTION_SAFETY_DEFAULT_CONFIRMATIONS")
    items: list[ThresholdOut]


class ThresholdIn(Input):
    chain_id: int = Field(ge=1, le=2**53, description="EVM chain id")
    currency: Currency
    confirmations: int = Field(ge=1, le=MAX_CONFIRMATIONS)


class ReviewPaymentOut(Schema):
    id: uuid.UUID
    request_id: uuid.UUID
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    amount: MoneyStr
    amount_paid: MoneyStr
    currency: str
    network: int | None
    token_contract: str | None
    status: str
    overpaid: bool
    paid_late: bool
    sender_address: str | None
    refund_address: str | None
    review_reason: str | None = Field(description="Why a safety rule holds it back")
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_note: str | None
    created_at: datetime
    updated_at: datetime


class ApproveIn(Input):
    note: MultiLine | None = Field(None, max_length=NOTE_MAX)


class RejectIn(Input):
    reason: VisibleText = Field(min_length=1, max_length=NOTE_MAX)
