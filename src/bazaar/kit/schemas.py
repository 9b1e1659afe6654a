"""Base Pydantic models: camelCase on the wire, the success envelope."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, ValidationInfo, field_validator
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

    @field_validator("*", mode="before")
    @classmethod
    def _as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        """Rules on the value as sent, where the schema and pydantic's coercion part ways."""
        if value is None:
            return value
        rules = _raw_rules(cls)
        name = info.field_name or ""
        # JSON has true and false: pydantic would also take 0, 1, "yes" or "off" for a
        # boolean, which the schema does not allow and no client means.
        if name in rules.flags and type(value) is not bool:
            raise ValueError("must be true or false")
        # `maxLength` counts what was sent: trimming must not let a longer value through.
        limit = rules.max_lengths.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value


@dataclass(frozen=True)
class _RawRules:
    flags: frozenset[str]
    max_lengths: dict[str, int]


def _raw_rules(model: type[BaseModel]) -> _RawRules:
    """The model's boolean fields and string length limits, read once from its own JSON
    schema (what clients are told) and cached on the class."""
    rules: _RawRules | None = model.__dict__.get("__bazaar_raw_rules__")
    if rules is None:
        properties = model.model_json_schema().get("properties", {})
        limits = {}
        for name, field in model.model_fields.items():
            prop = properties.get(field.alias or name, {})
            found = [o["maxLength"] for o in [prop, *prop.get("anyOf", [])] if "maxLength" in o]
            if found:
                limits[name] = min(found)
        flags = frozenset(
            name for name, field in model.model_fields.items() if field.annotation in _FLAGS
        )
        rules = _RawRules(flags, limits)
        setattr(model, "__bazaar_raw_rules__", rules)  # noqa: B010 (not a declared attribute)
    return rules


_FLAGS = (bool, bool | None)


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
