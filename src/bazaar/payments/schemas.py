"""Payment requests and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bazaar.kit.fields import MultiLine
from bazaar.kit.schemas import Input, MoneyStr, Schema

REASON_MAX = 500
Status = Literal[
    "pending",
    "partially_paid",
    "confirming",
    "awaiting_review",
    "held",
    "released",
    "refunded",
    "split",
    "expired",
    "cancelled",
    "failed",
]
Provider = Literal["onchain", "request_network", "derived"]


class PaymentOut(Schema):
    id: uuid.UUID
    request_id: uuid.UUID
    offer_id: uuid.UUID
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    amount: MoneyStr
    platform_fee: MoneyStr
    currency: str
    network: int | None = Field(description="EVM chain id the payment is sent on")
    token_contract: str | None = Field(description="The token's contract on that chain (EIP-55)")
    provider: str | None
    status: str
    expires_at: datetime | None
    created_at: datetime


class PaymentSummary(PaymentOut):
    """A payment in a list or detail: what arrived and when it was held and settled."""

    amount_paid: MoneyStr = Field(description="Confirmed on chain so far (token units)")
    overpaid: bool = Field(description="More than the price arrived: the excess is refunded")
    paid_late: bool = Field(description="The money was confirmed after `expiresAt`")
    held_at: datetime | None
    settled_at: datetime | None = Field(description="When it was released or refunded")


class PaymentEventOut(Schema):
    from_status: str | None
    to_status: str
    cause: str = Field(description='Why it moved, e.g. "chain.confirmed", "timer.inspection"')
    actor_id: uuid.UUID | None = Field(description="Who moved it; null for the system")
    created_at: datetime


class TransferOut(Schema):
    chain_id: int
    tx_hash: str
    status: str
    from_address: str | None
    amount_base_units: str | None = Field(description="Integer base units of the token")
    block_number: int | None
    confirmations: int
    created_at: datetime


class PayoutOut(Schema):
    id: uuid.UUID
    kind: str = Field(description="release (to the seller) or refund (to the buyer)")
    to_address: str
    amount: MoneyStr
    currency: str
    chain_id: int
    status: str
    tx_hash: str | None
    created_at: datetime


class PaymentDetail(PaymentSummary):
    events: list[PaymentEventOut] = Field(description="Every status move, oldest first")
    transfers: list[TransferOut] = Field(description="The chain transfers sent to fund it")
    payouts: list[PayoutOut] = Field(description="Payouts to you (an admin sees all)")


class RefundIn(Input):
    reason: MultiLine | None = Field(
        None, max_length=REASON_MAX, description="Told to the buyer; required from an admin"
    )


class CleanupIn(Input):
    provider: Provider
    dry_run: bool = Field(True, description="true (default): only list what would be removed")


class CleanupOut(Schema):
    provider: str
    dry_run: bool
    payment_ids: list[uuid.UUID]
    request_ids: list[uuid.UUID]


class ChainHealth(Schema):
    chain_id: int
    reachable: bool
    block_number: int | None
    error: str | None = None


class OnchainHealth(Schema):
    configured: bool = Field(description="An RPC URL and a receiver address are set")
    healthy: bool = Field(description="Configured and every chain's node answered")
    chains: list[ChainHealth]


class ProviderHealth(Schema):
    configured: bool
    healthy: bool | None = Field(description="null: not checked")


class HealthOut(Schema):
    onchain: OnchainHealth
    request_network: ProviderHealth

    @classmethod
    def of(cls, data: dict[str, Any]) -> HealthOut:
        return cls.model_validate(data)
