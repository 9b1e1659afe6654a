"""Who is calling: bearer-token authentication and role checks for every domain."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bazaar.auth.errors import AccountBanned
from bazaar.kit.deps import SessionDep, SettingsDep
from bazaar.kit.errors import Forbidden, Unauthorized
from bazaar.kit.security import decode_access_token
from bazaar.models import User

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")


class RoleRequired(Forbidden):
    code = "ROLE_REQUIRED"


async def _current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User | None:
    if credentials is None:
        return None
    claims = decode_access_token(settings, credentials.credentials)
    if claims is None:
        raise Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
    user = (
        await session.execute(sa.select(User).where(User.id == claims.user_id))
    ).scalar_one_or_none()
    if user is None or user.token_version != claims.token_version:
        raise Unauthorized("Invalid or expired access token", code="INVALID_TOKEN")
    if user.banned_at is not None:
        raise AccountBanned()
    request.state.user_id = str(user.id)
    return user


async def get_optional_user(
    user: Annotated[User | None, Depends(_current_user)],
) -> User | None:
    return user


async def get_current_user(user: Annotated[User | None, Depends(_current_user)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def require_role(*roles: str) -> Callable[[User], Coroutine[Any, Any, User]]:
    """Dependency: the caller holds at least one of `roles` (no implicit admin pass)."""

    async def _check(user: CurrentUser) -> User:
        if any(user.has_role(r) for r in roles):
            return user
        raise RoleRequired(f"This action requires the {' or '.join(roles)} role")

    return _check


AdminUser = Annotated[User, Depends(require_role("admin"))]
BuyerUser = Annotated[User, Depends(require_role("buyer"))]
SellerUser = Annotated[User, Depends(require_role("seller"))]
ResolverUser = Annotated[User, Depends(require_role("resolver", "admin"))]
GuardUser = Annotated[User, Depends(require_role("guard", "admin"))]
