"""Payment responses."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from bazaar.kit.schemas import MoneyStr, Schema


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
