"""Who is calling: bearer-token authentication and role checks for every domain."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bazaar.auth.errors import AccountBanned
from bazaar.config import Settings
from bazaar.kit import idempotency
from bazaar.kit.db import Sessions
from bazaar.kit.deps import RequestDbDep, WriteSession
from bazaar.kit.errors import RoleRequired, Unauthorized
from bazaar.kit.openapi import raises
from bazaar.kit.security import AccessClaims, decode_access_token
from bazaar.models import RefreshToken, User

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")

# Built once: a statement object memoizes its compiled-cache key, so each request skips
# building the WHERE clause and hashing it (a measurable share of an authenticated read).
_USER_BY_ID = sa.select(User).where(User.id == sa.bindparam("user_id"))
# The same read for a token bound to a sign-in session, with whether that session is still
# live (a refresh token of its family not revoked): one statement, no extra round trip.
_SESSION_LIVE = (
    sa.exists()
    .where(
        RefreshToken.family_id == sa.bindparam("session_id"),
        RefreshToken.revoked_at.is_(None),
    )
    .label("live")
)
_USER_AND_SESSION = sa.select(User, _SESSION_LIVE).where(User.id == sa.bindparam("user_id"))


# The same reads under a row lock, re-read even if this session already holds the row.
_USER_BY_ID_LOCKED = _USER_BY_ID.with_for_update(of=User).execution_options(populate_existing=True)
_USER_AND_SESSION_LOCKED = _USER_AND_SESSION.with_for_update(of=User).execution_options(
    populate_existing=True
)


class _VerifiedTokens:
    """Access tokens whose signature and claims were already checked, with their claims.

    Verifying a JWT (base64, JSON, HMAC, claim checks) costs about as much as the database
    lookup that follows, and a client sends the same token on every call. A token's claims
    never change, so a hit only re-checks expiry. Revocation is unaffected: bans and
    `token_version` are read from the user row on every request. Keyed by secret too,
    because one process may host apps with different secrets (tests).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[tuple[str, str], tuple[float, AccessClaims]] = {}

    def claims(self, settings: Settings, token: str) -> AccessClaims | None:
        key = (settings.jwt_secret, token)
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > time.time():
                return entry[1]
            del self._entries[key]
            return None
        claims = decode_access_token(settings, token)
        if claims is not None:
            if len(self._entries) >= self.size:
                # Oldest insertion first: dicts keep insertion order.
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (claims.expires_at.timestamp(), claims)
        return claims


_verified = _VerifiedTokens()


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _authenticate(
    request: Request, rdb: Sessions, credentials: HTTPAuthorizationCredentials, lock: bool = False
) -> User:
    settings: Settings = request.app.state.settings
    claims = _verified.claims(settings, credentials.credentials)
    if claims is None:
        raise Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
    # One primary-key read per request, never cached: a ban or a token revocation takes
    # effect on the very next request, in every process.
    # Through the request's own session (whatever kind the endpoint declared), so the
    # request holds one connection, not one for this lookup and another for its work.
    session = rdb.session()
    live = True
    if claims.session_id is None:
        params = {"user_id": claims.user_id}
        by_id = _USER_BY_ID_LOCKED if lock else _USER_BY_ID
        user = (await session.execute(by_id, params)).scalar_one_or_none()
    else:
        params = {"user_id": claims.user_id, "session_id": claims.session_id}
        with_session = _USER_AND_SESSION_LOCKED if lock else _USER_AND_SESSION
        row = (await session.execute(with_session, params)).one_or_none()
        user, live = (row[0], bool(row[1])) if row is not None else (None, False)
    if user is None or user.token_version != claims.token_version or not live:
        raise Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
    if user.banned_at is not None:
        raise AccountBanned()
    request.state.user_id = str(user.id)
    return user


# What the dependencies below answer, documented on every route that uses them.
_BAD_TOKEN = Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
_SIGNED_IN = (Unauthorized, _BAD_TOKEN, AccountBanned)


# Two flat dependencies rather than one wrapping the other: each level of dependency
# costs FastAPI a resolution step on every authenticated request.
@raises(*_SIGNED_IN, auth="required")
async def get_current_user(request: Request, rdb: RequestDbDep, credentials: Credentials) -> User:
    if credentials is None:
        raise Unauthorized()
    return await _authenticate(request, rdb, credentials)


@raises(_BAD_TOKEN, AccountBanned, auth="optional")
async def get_optional_user(
    request: Request, rdb: RequestDbDep, credentials: Credentials
) -> User | None:
    if credentials is None:
        return None
    return await _authenticate(request, rdb, credentials)


@raises(_BAD_TOKEN, auth="optional")
async def get_bearer_claims(request: Request, credentials: Credentials) -> AccessClaims | None:
    """The bearer token's claims, checked for signature and expiry only (no user read):
    enough to end the session it names. A bad token is 401; no token is None."""
    if credentials is None:
        return None
    claims = _verified.claims(request.app.state.settings, credentials.credentials)
    if claims is None:
        raise Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
    return claims


@raises(*_SIGNED_IN, auth="required")
async def get_current_user_for_update(
    request: Request, rdb: RequestDbDep, credentials: Credentials, _write: WriteSession
) -> User:
    """The caller's user row, locked for this request's write transaction and read under
    the lock: for endpoints that change the caller's own row (read-modify-write)."""
    if credentials is None:
        raise Unauthorized()
    return await _authenticate(request, rdb, credentials, lock=True)


CurrentUser = Annotated[User, Depends(get_current_user)]
# Declares a write session: the route becomes a write route, whatever its method.
CurrentUserForUpdate = Annotated[User, Depends(get_current_user_for_update)]
BearerClaims = Annotated[AccessClaims | None, Depends(get_bearer_claims)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def require_role(*roles: str) -> Callable[[User], Coroutine[Any, Any, User]]:
    """Dependency: the caller holds at least one of `roles` (no implicit admin pass)."""

    @raises(RoleRequired)
    async def _check(user: CurrentUser) -> User:
        if any(user.has_role(r) for r in roles):
            return user
        raise RoleRequired.any_of(*roles)

    return _check


AdminUser = Annotated[User, Depends(require_role("admin"))]
BuyerUser = Annotated[User, Depends(require_role("buyer"))]
SellerUser = Annotated[User, Depends(require_role("seller"))]
ResolverUser = Annotated[User, Depends(require_role("resolver", "admin"))]
GuardUser = Annotated[User, Depends(require_role("guard", "admin"))]


@raises(idempotency.IdempotencyKeyReused, idempotency.IdempotencyKeyInProgress)
async def _idempotency(
    request: Request,
    session: WriteSession,
    user: OptionalUser,
    key: idempotency.IdempotencyKeyHeader = None,
) -> AsyncIterator[idempotency.Idempotency]:
    scope = str(user.id) if user is not None else None
    idem = await idempotency.claim(request, session, scope, key)
    yield idem
    idempotency.check_saved(request, idem)


# `Idempotency-Key` for money-moving POSTs, scoped to the caller (kit/idempotency.py).
Idem = Annotated[idempotency.Idempotency, Depends(_idempotency, scope="function")]
