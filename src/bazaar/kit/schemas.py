"""Base Pydantic models: camelCase on the wire, the success envelope."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from bazaar.kit.money import format_money

T = TypeVar("T")


class Schema(BaseModel):
    """Response/request model with camelCase aliases; accepts snake_case too."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )


class Input(Schema):
    """Request body: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


MoneyStr = Annotated[Decimal, PlainSerializer(lambda v: format_money(v), return_type=str)]


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T


def ok(data: Any) -> dict[str, Any]:
    """The success envelope for a plain dict/list payload."""
    return {"success": True, "data": data}
