"""Base Pydantic models: camelCase on the wire, the success envelope."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, field_validator
from pydantic.alias_generators import to_camel

from bazaar.kit.fields import storable_problem
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
    """Request body: unknown fields are refused so typos do not pass silently, and no text
    anywhere in it (nested lists and objects included) may hold what the database cannot
    store: NUL bytes (PostgreSQL refuses them: a 500 before) or lone surrogates."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = _first_problem(value)
        if problem:
            raise ValueError(problem)
        return value


def _first_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return storable_problem(value)
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
        return next((p for p in map(_first_problem, items) if p), None)
    if isinstance(value, list | tuple | set | frozenset):
        return next((p for p in map(_first_problem, value) if p), None)
    return None  # nested Inputs check their own fields


MoneyStr = Annotated[Decimal, PlainSerializer(lambda v: format_money(v), return_type=str)]


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T


def ok(data: Any) -> dict[str, Any]:
    """The success envelope for a plain dict/list payload."""
    return {"success": True, "data": data}
