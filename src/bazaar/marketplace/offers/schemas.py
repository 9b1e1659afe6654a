"""Offer request bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from bazaar.kit.fields import Currency, MultiLine, Network, Price, Ref, When
from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.marketplace.limits import MESSAGE_MAX, REASON_MAX
from bazaar.payments.schemas import PaymentOut

OfferStatus = Literal[
    "pending", "accepted", "rejected", "withdrawn", "superseded", "expired", "cancelled"
]


class OfferFields(Input):
    """What a seller offers; `currency` defaults to the request's, `expiresAt` to
    the earlier of the request's expiry and now + OFFER_DEFAULT_TTL. The token must be one
    the seller's shop accepts, `network` a chain where the token registry has its contract,
    and `price` no finer than the token's decimals (USDC: 6, DAI: 18)."""

    price: Price = Field(description='Total price for the requested quantity, e.g. "25.00"')
    currency: Currency | None = None
    network: Network = Field(description="EVM chain id to be paid on (a name such as `base` too)")
    delivery_days: int = Field(7, ge=1, le=365)
    message: MultiLine | None = Field(None, max_length=MESSAGE_MAX)
    expires_at: When | None = None


class OfferCreate(OfferFields):
    request_id: Ref = Field(description="The purchase request (UUID or legacy id)")


_REQUIRED_ON_PATCH = ("price", "currency", "network", "delivery_days", "expires_at")


class OfferUpdate(Input):
    """Only the fields sent change; every edit bumps `version`, so the buyer re-accepts."""

    price: Price | None = None
    currency: Currency | None = None
    network: Network = None
    delivery_days: int | None = Field(None, ge=1, le=365)
    message: MultiLine | None = Field(None, max_length=MESSAGE_MAX)
    expires_at: When | None = None

    @field_validator(*_REQUIRED_ON_PATCH)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that were sent, so an omitted field stays "unchanged".
        if value is None:
            raise ValueError("cannot be null")
        return value


class AcceptOffer(Input):
    version: int = Field(
        ge=1,
        description="The offer version you reviewed (required); 409 OFFER_CHANGED if the "
        "seller edited it since",
    )


class ConfirmOffer(Input):
    terms_version: int = Field(
        ge=1,
        description="The request's `termsVersion` you reviewed; 409 REQUEST_TERMS_CHANGED if "
        "the buyer changed the terms again since",
    )


class RejectOffer(Input):
    reason: MultiLine | None = Field(None, max_length=REASON_MAX)


class OfferOut(Schema):
    id: uuid.UUID
    request_id: uuid.UUID
    seller_id: uuid.UUID
    shop_id: uuid.UUID | None
    price: MoneyStr
    currency: str
    network: int | None
    delivery_days: int
    message: str | None
    status: str
    expires_at: datetime | None
    version: int
    terms_version: int = Field(
        description="The request's terms version this offer answers; when the request's "
        "`termsVersion` is higher, the seller must confirm the offer before it can be accepted"
    )
    from_template: bool
    created_at: datetime
    updated_at: datetime


class MyOfferOut(OfferOut):
    request_title: str
    request_status: str


class AcceptedOut(Schema):
    offer: OfferOut
    request_id: uuid.UUID
    request_status: str
    funding_deadline: datetime | None
    payment: PaymentOut
