"""Purchase request bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from bazaar.kit.fields import (
    Amount,
    Currency,
    FileId,
    MultiLine,
    Ref,
    VisibleLine,
    VisibleText,
    When,
)
from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.marketplace.limits import (
    DESCRIPTION_MAX,
    MAX_FILES,
    NOTE_MAX,
    QUANTITY_MAX,
    REASON_MAX,
    TITLE_MAX,
    TITLE_MIN,
)
from bazaar.marketplace.offers.schemas import OfferOut
from bazaar.marketplace.requests import state

Sort = Literal["newest", "budget_asc", "budget_desc", "ending_soon"]
Status = Literal[
    "draft",
    "open",
    "accepted",
    "funded",
    "delivered",
    "completed",
    "refunded",
    "disputed",
    "split",
    "cancelled",
    "expired",
]
assert set(get_args(Status)) == set(state.STATUSES)


class RequestCreate(Input):
    """A purchase request. Delivery is either one of your addresses or `isDigital: true`."""

    title: VisibleLine = Field(min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: MultiLine = Field("", max_length=DESCRIPTION_MAX)
    category_id: Ref | None = Field(None, description="Category UUID, slug or legacy id")
    quantity: int = Field(1, ge=1, le=QUANTITY_MAX)
    budget_min: Amount | None = Field(None, description='Decimal string, e.g. "50"')
    budget_max: Amount | None = Field(None, description='Decimal string, e.g. "120.50"')
    currency: Currency = "USDC"
    expires_at: When | None = Field(
        None, description="Deadline for offers; default now + REQUEST_DEFAULT_TTL, max 90 days"
    )
    delivery_address_id: Ref | None = Field(None, description="One of your addresses")
    is_digital: bool = False
    attachments: list[FileId] = Field(default_factory=list, max_length=MAX_FILES)
    publish: bool = Field(False, description="Publish at once (status `open`) instead of a draft")


_REQUIRED_ON_PATCH = (
    "title",
    "description",
    "quantity",
    "currency",
    "expires_at",
    "delivery_address_id",
    "is_digital",
    "attachments",
)


class RequestUpdate(Input):
    """Only the fields sent change. `budgetMin`, `budgetMax` and `categoryId` may be null.
    `isDigital: true` drops the delivery address; `deliveryAddressId` sets a new one."""

    title: VisibleLine | None = Field(None, min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: MultiLine | None = Field(None, max_length=DESCRIPTION_MAX)
    category_id: Ref | None = None
    quantity: int | None = Field(None, ge=1, le=QUANTITY_MAX)
    budget_min: Amount | None = None
    budget_max: Amount | None = None
    currency: Currency | None = None
    expires_at: When | None = None
    delivery_address_id: Ref | None = None
    is_digital: bool | None = None
    attachments: list[FileId] | None = Field(None, max_length=MAX_FILES)

    @field_validator(*_REQUIRED_ON_PATCH)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that were sent, so an omitted field stays "unchanged".
        if value is None:
            raise ValueError("cannot be null")
        return value


class CancelRequest(Input):
    reason: MultiLine | None = Field(
        None, max_length=REASON_MAX, description="Required when an admin cancels"
    )


class ForceTransition(Input):
    to: Status
    reason: VisibleText = Field(min_length=1, max_length=REASON_MAX)


class Delivery(Input):
    note: MultiLine | None = Field(None, max_length=NOTE_MAX)
    files: list[FileId] = Field(default_factory=list, max_length=MAX_FILES)


class HistoryOut(Schema):
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str
    from_status: str | None
    to_status: str
    reason: str | None
    created_at: datetime


class RequestSummary(Schema):
    id: uuid.UUID
    buyer_id: uuid.UUID
    title: str
    description: str
    category_id: uuid.UUID | None
    quantity: int
    budget_min: MoneyStr | None
    budget_max: MoneyStr | None
    currency: str
    status: str
    is_digital: bool
    ships_to: dict[str, str | None] | None = Field(
        description="City and country of the delivery address (the full address is private)"
    )
    attachments: list[str]
    target_shop_id: uuid.UUID | None
    template_id: uuid.UUID | None
    terms_version: int = Field(
        description="Raised by every change of what is bought (title, description, category, "
        "quantity, currency, isDigital, delivery address); an offer answers one version"
    )
    expires_at: datetime | None
    published_at: datetime | None
    accepted_offer_id: uuid.UUID | None = Field(
        description="The accepted offer: for the buyer, its seller and admins only"
    )
    locked_price: MoneyStr | None = Field(
        description="The accepted price: for the buyer, the accepted seller and admins only"
    )
    funding_deadline: datetime | None
    delivery_deadline: datetime | None
    inspection_deadline: datetime | None
    completed_at: datetime | None
    offer_count: int = Field(description="Live (pending or accepted) offers")
    created_at: datetime
    updated_at: datetime


class RequestDetail(RequestSummary):
    delivery_address: dict[str, Any] | None = Field(
        description="Full address: for the buyer and admins, and for the accepted seller "
        "once the payment is held (funded, delivered, disputed)"
    )
    buyer_note: str | None = Field(
        description="The buyer's note to the shop when ordering from a template: for the "
        "buyer, that shop and admins only"
    )
    delivery_note: str | None
    delivery_files: list[str]
    history: list[HistoryOut]
    offers: list[OfferOut] | None = Field(
        description="All offers for the buyer and admins; a seller sees their own; else null"
    )
