"""Password hashing (Argon2id, legacy bcrypt), JWT access tokens, opaque secrets."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from anyio import to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from bazaar.config import Settings
from bazaar.kit.db import utcnow
from bazaar.kit.locks import assert_no_write_transaction

ALGORITHM = "HS256"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHash:
    return PasswordHash(
        (Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost), BcryptHasher())
    )


def password_hasher(settings: Settings) -> PasswordHash:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost)


def hash_password(settings: Settings, password: str) -> str:
    assert_no_write_transaction(PASSWORD_WORK)
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password: str, hashed: str) -> tuple[bool, str | None]:
    """(valid, new_hash): new_hash is set when the stored hash is legacy/outdated."""
    assert_no_write_transaction(PASSWORD_WORK)
    return password_hasher(settings).verify_and_update(password, hashed)


# Argon2 and bcrypt are CPU-bound for tens to hundreds of milliseconds: they run on a
# thread, and never inside a write transaction (kit/locks.py), which they would hold open.
PASSWORD_WORK = "password hash"


async def hash_password_async(settings: Settings, password: str) -> str:
    assert_no_write_transaction(PASSWORD_WORK)
    return await to_thread.run_sync(hash_password, settings, password)


async def verify_password_async(
    settings: Settings, password: str, hashed: str
) -> tuple[bool, str | None]:
    assert_no_write_transaction(PASSWORD_WORK)
    return await to_thread.run_sync(verify_password, settings, password, hashed)


@lru_cache(maxsize=4)
def dummy_hash(time_cost: int, memory_cost: int) -> str:
    """A real hash to verify against for unknown emails, so timing does not leak them."""
    return _hasher(time_cost, memory_cost).hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    roles: list[str]
    token_version: int
    jti: str
    expires_at: datetime
    # The sign-in session (refresh-token family) the token belongs to: logging out ends it.
    # None for tokens issued before sessions were bound (they expire within JWT_EXPIRES_IN).
    session_id: uuid.UUID | None = None


def create_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    roles: list[str],
    token_version: int,
    session_id: uuid.UUID | None = None,
) -> tuple[str, datetime]:
    expires_at = utcnow() + settings.jwt_expires_in
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "roles": roles,
        "ver": token_version,
        "jti": uuid.uuid4().hex,
        "iat": int(utcnow().timestamp()),
        "exp": int(expires_at.timestamp()),
        "typ": "access",
    }
    if session_id is not None:
        payload["sid"] = str(session_id)
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM), expires_at


# Claims outside these bounds are not a token we issued (an `exp` of 1e20 overflowed the
# datetime conversion and answered 500).
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


def decode_access_token(settings: Settings, token: str) -> AccessClaims | None:
    try:
        data = jwt.decode(
            token, settings.jwt_secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
        if data.get("typ", "access") != "access":
            return None
        exp = data["exp"]
        if not isinstance(exp, int | float) or not 0 < exp <= _MAX_TIMESTAMP:
            return None
        sid = data.get("sid")
        roles = data.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return None
        return AccessClaims(
            user_id=uuid.UUID(str(data["sub"])),
            roles=list(roles),
            token_version=int(data.get("ver", 0)),
            jti=str(data.get("jti", "")),
            expires_at=datetime.fromtimestamp(exp, UTC),
            session_id=uuid.UUID(str(sid)) if sid is not None else None,
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, OverflowError, OSError):
        return None


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def expires_in(delta: timedelta) -> datetime:
    return utcnow() + delta


MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    return None
