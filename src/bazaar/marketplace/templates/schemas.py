"""Template request bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from bazaar.kit.fields import Currency, MultiLine, Network, Price, Ref, VisibleLine
from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.marketplace.limits import (
    DESCRIPTION_MAX,
    MESSAGE_MAX,
    QUANTITY_MAX,
    TITLE_MAX,
    TITLE_MIN,
)
from bazaar.marketplace.offers.schemas import OfferOut
from bazaar.marketplace.requests.schemas import RequestDetail

DeliveryDays = Annotated[int, Field(ge=1, le=365)]


class TemplateCreate(Input):
    title: VisibleLine = Field(min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: MultiLine = Field("", max_length=DESCRIPTION_MAX)
    price: Price = Field(description='Decimal string, e.g. "25.00"')
    currency: Currency = "USDC"
    network: Network = Field(description="EVM chain id to be paid on (a name such as `base` too)")
    delivery_days: DeliveryDays = 7
    category_id: Ref | None = Field(None, description="Category UUID, slug or legacy id")
    is_active: bool = True


# Fields whose column is NOT NULL: an explicit null in a PATCH is refused, not stored.
_REQUIRED_ON_PATCH = (
    "title",
    "description",
    "price",
    "currency",
    "network",
    "delivery_days",
    "is_active",
)


class TemplateUpdate(Input):
    """Only the fields sent are changed; `categoryId` may be set to null."""

    title: VisibleLine | None = Field(None, min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: MultiLine | None = Field(None, max_length=DESCRIPTION_MAX)
    price: Price | None = None
    currency: Currency | None = None
    network: Network = None
    delivery_days: DeliveryDays | None = None
    category_id: Ref | None = None
    is_active: bool | None = None

    @field_validator(*_REQUIRED_ON_PATCH)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that were sent, so an omitted field stays "unchanged".
        if value is None:
            raise ValueError("cannot be null")
        return value


class TemplateOut(Schema):
    id: uuid.UUID
    shop_id: uuid.UUID
    seller_id: uuid.UUID
    title: str
    description: str
    price: MoneyStr
    currency: str
    network: int | None
    delivery_days: int
    category_id: uuid.UUID | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class TemplateDeleted(Schema):
    id: uuid.UUID
    result: Literal["deleted", "deactivated"] = Field(
        description="`deleted` (never ordered) or `deactivated` (kept for its requests)"
    )


class InstantiateTemplate(Input):
    quantity: int = Field(1, ge=1, le=QUANTITY_MAX, description="The offer is price × quantity")
    delivery_address_id: Ref | None = Field(None, description="One of your addresses")
    is_digital: bool | None = Field(None, description="Digital delivery: no address needed")
    message: MultiLine | None = Field(
        None,
        max_length=MESSAGE_MAX,
        description="Private note to the shop (`buyerNote`): seen by you, the shop and admins",
    )


class TemplateOrder(Schema):
    """The open request made from a template and the shop's offer on it."""

    request: RequestDetail
    offer: OfferOut
