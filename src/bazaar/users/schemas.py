"""Request and response models for profiles, preferences, public profiles and admin views."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StringConstraints, field_validator

from bazaar.kit.fields import WHITESPACE, MultiLine, VisibleLine, VisibleText
from bazaar.kit.schemas import Input, Schema
from bazaar.models import User
from bazaar.models.users import ROLES
from bazaar.users.preferences import CHANNELS, CURRENCY_CODE, EVENTS, normalize_language_tag

Role = Literal["admin", "buyer", "seller", "resolver", "guard"]
Name = Annotated[VisibleLine, StringConstraints(min_length=1, max_length=120)]
Bio = Annotated[MultiLine, StringConstraints(max_length=2000)]


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    """An IANA time zone name known to this server (`Europe/Berlin`, `UTC`)."""
    if value not in _time_zones():
        raise ValueError("must be an IANA time zone such as UTC or Europe/Berlin")
    return value


# What the validators below accept, stated for clients (values are trimmed first).
_W = f"[{WHITESPACE}]*"
_LANGUAGE_DOC: dict[str, Any] = {
    "json_schema_extra": {
        "pattern": f"^{_W}[A-Za-z]{{2,3}}([-_][A-Za-z]{{4}})?([-_]([A-Za-z]{{2}}|[0-9]{{3}}))?{_W}$"
    }
}
_NOTIFICATIONS_DOC: dict[str, Any] = {
    "propertyNames": {"enum": list(EVENTS)},
    "additionalProperties": {"propertyNames": {"enum": list(CHANNELS)}},
}


def reject_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    return value


class ProfileOut(Schema):
    id: uuid.UUID
    email: str
    name: str
    avatar_file_id: uuid.UUID | None
    bio: str | None
    locale: str
    timezone: str
    roles: list[str]
    email_verified: bool
    created_at: datetime
    referral_code: str | None

    @classmethod
    def of(cls, user: User) -> ProfileOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            avatar_file_id=user.avatar_file_id,
            bio=user.bio,
            locale=user.locale,
            timezone=user.timezone,
            roles=list(user.roles or []),
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
            referral_code=user.referral_code,
        )


class ProfileUpdate(Input):
    """Fields left out are unchanged; `avatarFileId` and `bio` may be set to null to clear."""

    name: Name | None = None
    avatar_file_id: uuid.UUID | None = None
    bio: Bio | None = None
    locale: str | None = Field(None, max_length=16, examples=["en", "pt-BR"], **_LANGUAGE_DOC)
    timezone: str | None = Field(None, max_length=64, examples=["Europe/Berlin"])

    _not_null = field_validator("name", "locale", "timezone", mode="before")(reject_null)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        return None if value is None else normalize_language_tag(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class ChannelsOut(Schema):
    in_app: bool
    email: bool
    telegram: bool


class PreferencesOut(Schema):
    notifications: dict[str, ChannelsOut]
    language: str
    display_currency: str


class PreferencesUpdate(Input):
    """Only what is sent changes: events and channels left out keep their current value."""

    notifications: dict[str, dict[str, StrictBool]] | None = Field(
        None,
        examples=[{"offer.received": {"inApp": True, "email": True, "telegram": False}}],
        json_schema_extra=_NOTIFICATIONS_DOC,
    )
    language: str | None = Field(None, max_length=16, examples=["en"], **_LANGUAGE_DOC)
    display_currency: str | None = Field(
        None, examples=["USD"], json_schema_extra={"pattern": f"^{_W}[A-Za-z]{{3}}{_W}$"}
    )

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else normalize_language_tag(value)

    @field_validator("display_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if not CURRENCY_CODE.match(code):
            raise ValueError("must be a three-letter currency code such as USD or EUR")
        return code


class PublicProfileOut(Schema):
    """What anyone may see about a user; other domains add keys (shop, rating, deals)."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    name: str
    avatar_file_id: uuid.UUID | None
    bio: str | None
    roles: list[str]
    member_since: datetime


class AdminUserOut(ProfileOut):
    legacy_id: str | None
    banned: bool
    banned_at: datetime | None
    ban_reason: str | None
    locked_until: datetime | None
    last_login_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, user: User, locked_until: datetime | None = None) -> AdminUserOut:
        """`locked_until`: the end of a sign-in lock in force on the account's address."""
        base = ProfileOut.of(user).model_dump()
        return cls(
            **base,
            legacy_id=user.legacy_object_id,
            banned=user.banned_at is not None,
            banned_at=user.banned_at,
            ban_reason=user.ban_reason,
            locked_until=locked_until,
            last_login_at=user.last_login_at,
            updated_at=user.updated_at,
        )


class RolesUpdate(Input):
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES), examples=[["buyer", "seller"]])


class BanInput(Input):
    reason: VisibleText = Field(min_length=1, max_length=500, examples=["Fraudulent listings"])
