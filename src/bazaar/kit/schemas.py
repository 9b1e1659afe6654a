"""Base Pydantic models: camelCase on the wire, the success envelope."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

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

    @model_validator(mode="before")
    @classmethod
    def _as_sent(cls, data: Any) -> Any:
        """Rules on the values as sent, before any field validator reshapes them: where
        the schema and pydantic's coercion or trimming would part ways."""
        if not isinstance(data, dict):
            return data
        rules = _raw_rules(cls)
        errors: list[InitErrorDetails] = []
        for key, value in data.items():
            if value is None:
                continue
            # JSON has true and false: pydantic would also take 0, 1, "yes" or "off" for
            # a boolean, which the schema does not allow and no client means.
            if key in rules.flags and type(value) is not bool:
                errors.append(_error(key, value, "must be true or false"))
            # `maxLength` counts what was sent: trimming must not let more through.
            limit = rules.max_lengths.get(key)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                errors.append(_error(key, value, f"must be at most {limit} characters"))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


def _error(key: str, value: Any, message: str) -> InitErrorDetails:
    error = PydanticCustomError("value_error", message)
    return InitErrorDetails(type=error, loc=(key,), input=value)


@dataclass(frozen=True)
class _RawRules:
    """By the keys a body may use (alias and field name)."""

    flags: frozenset[str]
    max_lengths: dict[str, int]


def _raw_rules(model: type[BaseModel]) -> _RawRules:
    """The model's boolean fields and string length limits, read once from its own JSON
    schema (what clients are told) and cached on the class."""
    rules: _RawRules | None = model.__dict__.get("__bazaar_raw_rules__")
    if rules is None:
        properties = model.model_json_schema().get("properties", {})
        limits: dict[str, int] = {}
        flags: set[str] = set()
        for name, field in model.model_fields.items():
            keys = {name, field.alias or name}
            prop = properties.get(field.alias or name, {})
            found = [o["maxLength"] for o in [prop, *prop.get("anyOf", [])] if "maxLength" in o]
            if found:
                limits.update(dict.fromkeys(keys, min(found)))
            if field.annotation in _FLAGS:
                flags.update(keys)
        rules = _RawRules(frozenset(flags), limits)
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
