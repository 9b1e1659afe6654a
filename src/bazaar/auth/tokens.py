"""Session tokens (JWT access + opaque rotating refresh) and single-use emailed tokens.

Only SHA-256 digests of refresh and emailed tokens are stored, so a copy of the database
does not let anyone sign in or reset a password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.auth import repository
from bazaar.config import Settings
from bazaar.kit.db import utcnow
from bazaar.kit.security import create_access_token, new_secret, sha256_hex
from bazaar.models import RefreshToken, User, UserToken

PASSWORD_RESET = "password_reset"
EMAIL_VERIFICATION = "email_verification"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


async def issue_tokens(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    family_id: uuid.UUID | None = None,
    user_agent: str | None = None,
) -> IssuedTokens:
    """A new access token and a refresh token (a new family unless `family_id` is given).

    The family is the sign-in session: the access token names it (`sid`), so ending the
    family (logout, reuse detection) ends its access tokens too."""
    family_id = family_id or uuid.uuid4()
    access, _ = create_access_token(
        settings, user.id, list(user.roles or []), user.token_version, session_id=family_id
    )
    raw = new_secret(32)
    lifetime = settings.refresh_token_expires_in
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=sha256_hex(raw),
            expires_at=utcnow() + lifetime,
            user_agent=user_agent[:300] if user_agent else None,
        )
    )
    await session.flush()
    return IssuedTokens(
        access_token=access,
        refresh_token=raw,
        expires_in=int(settings.jwt_expires_in.total_seconds()),
        refresh_expires_in=int(lifetime.total_seconds()),
    )


async def create_user_token(
    session: AsyncSession, user_id: uuid.UUID, purpose: str, lifetime: timedelta
) -> str:
    """A fresh emailed token for `purpose`; earlier unused ones of that purpose stop working."""
    await repository.discard_unused_user_tokens(session, user_id, purpose)
    raw = new_secret(32)
    session.add(
        UserToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=sha256_hex(raw),
            expires_at=utcnow() + lifetime,
        )
    )
    await session.flush()
    return raw


async def consume_user_token(session: AsyncSession, raw: str, purpose: str) -> UserToken | None:
    """Mark the token used and return it, or None when it is unknown, used or expired."""
    token = await repository.user_token_by_hash(session, sha256_hex(raw), purpose)
    now = utcnow()
    if token is None or token.used_at is not None or token.expires_at <= now:
        return None
    token.used_at = now
    await session.flush()
    return token
