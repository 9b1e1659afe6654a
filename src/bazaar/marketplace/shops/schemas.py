"""Shop request bodies and responses (owner view and public view)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from bazaar.kit.fields import Currency, MultiLine, VisibleLine
from bazaar.kit.money import to_decimal
from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.marketplace.categories.slugs import SLUG_MAX, check_slug

RESERVED_SLUGS = frozenset({"me"})  # `/shop-settings/me` is the caller's own shop
NAME_MAX = 120
TEXT_MAX = 5000
# Token lists are checked against the token registry (kit/tokens.py) by the service.
TOKENS_MAX = 32


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _price(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float | bool):
        raise ValueError('must be a decimal string such as "250.00"')
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null")
    return value


Price = Annotated[Decimal | None, BeforeValidator(_price)]


class Policies(Input):
    returns: MultiLine | None = Field(None, max_length=TEXT_MAX)
    shipping: MultiLine | None = Field(None, max_length=TEXT_MAX)
    warranty: MultiLine | None = Field(None, max_length=TEXT_MAX)


class AutoAcceptIn(Input):
    """Rules for accepting offers without the seller's click; stored for the offers flow."""

    enabled: bool = False
    max_price: Price = Field(None, description="Highest price accepted automatically")
    tokens: list[Currency] = Field(
        default_factory=list, max_length=TOKENS_MAX, description="Empty: any accepted"
    )

    @field_validator("tokens")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _unique(value)


class ShopFields(Input):
    description: MultiLine | None = Field(None, max_length=TEXT_MAX)
    logo_file_id: uuid.UUID | None = Field(None, description="An uploaded file's id")
    policies: Policies | None = None
    payout_wallets: dict[str, str] | None = Field(
        None,
        max_length=32,
        description='Payout address per EVM network: the key is a chain id (`"8453"`) or '
        'a network name (`"base"`); stored under the chain id, address in EIP-55 form',
    )
    accepted_tokens: list[Currency] | None = Field(
        None,
        min_length=1,
        max_length=TOKENS_MAX,
        description="Symbols from the token registry; default: every registry token",
    )
    auto_accept: AutoAcceptIn | None = None

    @field_validator("accepted_tokens")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(value)


def _shop_slug(value: str | None) -> str | None:
    return None if value is None else check_slug(value, RESERVED_SLUGS)


class ShopCreate(ShopFields):
    name: VisibleLine = Field(min_length=1, max_length=NAME_MAX)
    slug: str | None = Field(
        None, max_length=SLUG_MAX, description="URL slug; derived from the name when omitted"
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return _shop_slug(value)


class ShopUpdate(ShopFields):
    """Only the fields present in the body change; objects and lists are replaced whole."""

    name: VisibleLine | None = Field(None, min_length=1, max_length=NAME_MAX)
    slug: str | None = Field(None, max_length=SLUG_MAX)

    @field_validator("name", "policies", "payout_wallets", "accepted_tokens", "auto_accept")
    @classmethod
    def _required_if_given(cls, value: Any) -> Any:
        return _not_null(value)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return _shop_slug(_not_null(value))


class PoliciesOut(Schema):
    returns: str | None = None
    shipping: str | None = None
    warranty: str | None = None


class AutoAcceptOut(Schema):
    enabled: bool = False
    max_price: MoneyStr | None = None
    tokens: list[str] = Field(default_factory=list)


class ShopPublic(Schema):
    """What anyone may see about a shop."""

    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    slug: str
    description: str | None
    logo_file_id: uuid.UUID | None
    policies: PoliciesOut
    accepted_tokens: list[str]
    created_at: datetime
    updated_at: datetime


class ShopOut(ShopPublic):
    """The owner's view: adds payout wallets and auto-accept rules."""

    payout_wallets: dict[str, str] = Field(
        description="Payout address per EVM chain id, ordered by chain id (ascending)"
    )
    auto_accept: AutoAcceptOut

    @field_validator("payout_wallets")
    @classmethod
    def _by_chain_id(cls, value: dict[str, str]) -> dict[str, str]:
        # Rows written before wallets were stored in this order come back sorted too.
        return dict(sorted(value.items(), key=lambda item: (len(item[0]), item[0])))
