"""Request and response models of /api/auth."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints

from bazaar.kit.fields import Line, VisibleLine
from bazaar.kit.schemas import Input, Schema
from bazaar.kit.security import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_problem
from bazaar.models import User


def _new_email(value: str) -> str:
    """A syntactically valid address, lower-cased: accounts are unique case-insensitively."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()


def _new_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _lower(value: str) -> str:
    return value.lower()


# Registration checks the address; sign-in and recovery only need something email-shaped,
# so an account created under older, looser rules can still sign in.
NewEmail = Annotated[str, StringConstraints(max_length=320), AfterValidator(_new_email)]
AnyEmail = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(_lower),
]
# Passwords are taken verbatim: Input strips whitespace from other strings, and a
# password's surrounding spaces are part of it (the old system kept them too).
NewPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    AfterValidator(_new_password),
    # The policy's lengths, stated for clients; `_new_password` words the refusal.
    Field(json_schema_extra={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}),
]
# Generous upper bound: hashing work is bounded, while old passwords may predate the policy.
AnyPassword = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=1, max_length=1024)
]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class RegisterInput(Input):
    email: NewEmail = Field(examples=["ada@example.com"])
    password: NewPassword = Field(description="8 to 128 characters")
    name: Annotated[VisibleLine, StringConstraints(min_length=1, max_length=120)]
    role: Literal["buyer", "seller"] = "buyer"
    referral_code: Annotated[Line, StringConstraints(min_length=1, max_length=32)] | None = Field(
        None, description="Another user's referral code"
    )


class LoginInput(Input):
    email: AnyEmail
    password: AnyPassword


class RefreshInput(Input):
    refresh_token: OpaqueToken


class LogoutInput(Input):
    refresh_token: OpaqueToken | None = None
    all_devices: bool = Field(
        False, description="Also end every other session and invalidate all access tokens"
    )


class PasswordChangeInput(Input):
    current_password: AnyPassword
    new_password: NewPassword


class PasswordForgotInput(Input):
    email: AnyEmail


class PasswordResetInput(Input):
    token: OpaqueToken
    new_password: NewPassword


class EmailVerifyInput(Input):
    token: OpaqueToken


class AuthUser(Schema):
    id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    avatar_file_id: uuid.UUID | None
    locale: str
    timezone: str
    email_verified: bool
    email_verified_at: datetime | None
    referral_code: str | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            roles=list(user.roles or []),
            avatar_file_id=user.avatar_file_id,
            locale=user.locale,
            timezone=user.timezone,
            email_verified=user.email_verified_at is not None,
            email_verified_at=user.email_verified_at,
            referral_code=user.referral_code,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class AuthSession(TokenPair):
    user: AuthUser


class Message(Schema):
    message: str


class LogoutResult(Schema):
    logged_out: bool = True
