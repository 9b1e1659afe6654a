"""Request and response models for the address book."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool, field_validator

from bazaar.kit.fields import WHITESPACE, Line, VisibleLine
from bazaar.kit.schemas import Input, Schema
from bazaar.users.countries import COUNTRY_CODES
from bazaar.users.schemas import reject_null

_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]*$")
_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")

# The same rules for clients (trimmed first; blank means none).
_W = f"[{WHITESPACE}]*"
_PHONE_DOC = f"^{_W}$|^{_W}\\+?[0-9](?:[ ().\\-]*[0-9]){{4,14}}[ ().\\-]*{_W}$"
_POSTAL_DOC = f"^{_W}$|^{_W}[A-Za-z0-9][A-Za-z0-9 \\-]*{_W}$"
_COUNTRY_DOC: dict[str, Any] = {"enum": sorted(COUNTRY_CODES)}


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code such as US or DE")
    return code


def check_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 5 <= digits <= 15:
        raise ValueError("must be a phone number of 5 to 15 digits, optionally starting with +")
    return value


def check_postal_code(value: str) -> str:
    if not _POSTAL.match(value):
        raise ValueError("may contain only letters, digits, spaces and hyphens")
    return value


def _phone_doc(schema: dict[str, Any]) -> None:
    schema.setdefault("allOf", []).append({"pattern": _PHONE_DOC})


def _postal_doc(schema: dict[str, Any]) -> None:
    schema.setdefault("allOf", []).append({"pattern": _POSTAL_DOC})


class _AddressFields(Input):
    """Shared validation; optional text fields sent as "" are stored as null."""

    @field_validator(
        "label", "line2", "region", "postal_code", "phone", mode="before", check_fields=False
    )
    @classmethod
    def _blank_is_null(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("country", check_fields=False)
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else check_country(value)

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else check_phone(value)

    @field_validator("postal_code", check_fields=False)
    @classmethod
    def _postal(cls, value: str | None) -> str | None:
        return None if value is None else check_postal_code(value)


class AddressCreate(_AddressFields):
    label: Line | None = Field(None, max_length=60, examples=["Home"])
    full_name: VisibleLine = Field(min_length=1, max_length=120, examples=["Ada Lovelace"])
    line1: VisibleLine = Field(min_length=1, max_length=200, examples=["12 Analytical Row"])
    line2: Line | None = Field(None, max_length=200)
    city: VisibleLine = Field(min_length=1, max_length=100, examples=["London"])
    region: Line | None = Field(None, max_length=100)
    postal_code: Line | None = Field(
        None, max_length=20, examples=["N1 9GU"], json_schema_extra=_postal_doc
    )
    country: str = Field(examples=["GB"], json_schema_extra=_COUNTRY_DOC)
    phone: Line | None = Field(
        None, max_length=32, examples=["+44 20 7946 0000"], json_schema_extra=_phone_doc
    )
    is_default: StrictBool | None = None


class AddressUpdate(_AddressFields):
    """Fields left out are unchanged; optional fields may be set to null to clear them."""

    label: Line | None = Field(None, max_length=60)
    full_name: VisibleLine | None = Field(None, min_length=1, max_length=120)
    line1: VisibleLine | None = Field(None, min_length=1, max_length=200)
    line2: Line | None = Field(None, max_length=200)
    city: VisibleLine | None = Field(None, min_length=1, max_length=100)
    region: Line | None = Field(None, max_length=100)
    postal_code: Line | None = Field(None, max_length=20, json_schema_extra=_postal_doc)
    country: str | None = Field(None, json_schema_extra=_COUNTRY_DOC)
    phone: Line | None = Field(None, max_length=32, json_schema_extra=_phone_doc)
    is_default: StrictBool | None = None

    _not_null = field_validator("full_name", "line1", "city", "country", mode="before")(reject_null)


class AddressOut(Schema):
    id: uuid.UUID
    label: str | None
    full_name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str
    phone: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime


class AddressDeleted(Schema):
    id: uuid.UUID
    deleted: bool = True
    default_address_id: uuid.UUID | None = Field(
        description="The user's default address after the deletion (null when none is left)"
    )
