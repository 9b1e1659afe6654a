"""Errors of sign-in, tokens and account recovery (stable codes: they are API)."""

from __future__ import annotations

import math
from datetime import datetime

from bazaar.kit.db import utcnow
from bazaar.kit.errors import AppError, Conflict, Forbidden, Unauthorized


class RecordedFailure(AppError):
    """A refusal whose bookkeeping must be committed although the request fails.

    Failed-login counters and the revocation of a reused refresh-token family are written
    by the same request that answers with the error. The endpoints render these errors
    instead of raising them, so the request's unit of work commits what the service flushed.
    """


class InvalidCredentials(Unauthorized, RecordedFailure):
    code = "INVALID_CREDENTIALS"
    # One message for an unknown email and a wrong password: no account enumeration.
    message = "Invalid email or password"


class AccountLocked(RecordedFailure):
    status_code = 423
    code = "ACCOUNT_LOCKED"
    message = "Too many failed sign-in attempts; the account is temporarily locked"

    @classmethod
    def until(cls, locked_until: datetime) -> AccountLocked:
        seconds = max(1, math.ceil((locked_until - utcnow()).total_seconds()))
        return cls(
            f"Too many failed sign-in attempts; try again in {math.ceil(seconds / 60)} minutes",
            headers={"Retry-After": str(seconds)},
        )


class AccountBanned(Forbidden):
    code = "ACCOUNT_BANNED"
    message = "This account has been banned"


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    message = "An account with this email already exists"


class InvalidRefreshToken(Unauthorized):
    code = "INVALID_REFRESH_TOKEN"
    message = "The refresh token is invalid, expired or revoked; sign in again"


class RefreshTokenReused(Unauthorized, RecordedFailure):
    code = "REFRESH_TOKEN_REUSED"
    message = (
        "This refresh token was already used; every session started from the same "
        "sign-in has been revoked. Sign in again"
    )


class InvalidToken(AppError):
    """An emailed reset or verification token that is unknown, used or expired."""

    status_code = 400
    code = "INVALID_TOKEN"
    message = "This link is invalid or has expired; request a new one"


class InvalidCurrentPassword(AppError):
    status_code = 400
    code = "INVALID_CURRENT_PASSWORD"
    message = "The current password is incorrect"


class EmailAlreadyVerified(Conflict):
    code = "EMAIL_ALREADY_VERIFIED"
    message = "This email address is already verified"
