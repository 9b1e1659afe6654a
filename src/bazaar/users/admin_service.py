"""User administration: search, roles, ban and unban (called by /api/admin/users)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.auth import service as auth
from bazaar.kit.db import utcnow
from bazaar.kit.ids import get_by_ref
from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import User
from bazaar.models.users import ROLES
from bazaar.users import repository
from bazaar.users.errors import (
    CannotBanSelf,
    CannotRemoveOwnAdmin,
    UserAlreadyBanned,
    UserNotBanned,
)
from bazaar.users.schemas import AdminUserOut

log = structlog.get_logger("bazaar.users.admin")


async def search_users(
    session: AsyncSession,
    params: PageParams,
    *,
    q: str | None = None,
    role: str | None = None,
    banned: bool | None = None,
) -> tuple[list[User], int]:
    """Users whose email or name contains `q` (any case), with `role`, banned or not."""
    backend = session.get_bind().dialect.name
    stmt = repository.search_stmt(backend, q=q, role=role, banned=banned)
    return await paginate(session, stmt, params)


async def views(session: AsyncSession, users: list[User]) -> list[AdminUserOut]:
    """The admin view of each user, with any sign-in lock in force on their address."""
    locks = await auth.sign_in_locks(session, [u.email for u in users])
    return [AdminUserOut.of(u, locks.get(u.email)) for u in users]


async def view(session: AsyncSession, user: User) -> AdminUserOut:
    return (await views(session, [user]))[0]


async def get_unscoped(session: AsyncSession, ref: str, *, lock: bool = False) -> User:
    """Any account by UUID or legacy id, banned ones too (404 when missing): admin code
    only, behind the admin role."""
    return await get_by_ref(session, User, ref, what="User", lock=lock)


async def set_roles(session: AsyncSession, admin: User, ref: str, roles: list[str]) -> User:
    """Replace the user's roles; an admin cannot take the admin role away from themself."""
    user = await get_unscoped(session, ref, lock=True)
    wanted = [role for role in ROLES if role in set(roles)]
    if user.id == admin.id and "admin" not in wanted:
        raise CannotRemoveOwnAdmin()
    # Authorization reads roles from the database on every request, so the change is live
    # at once without invalidating the user's tokens.
    user.roles = wanted
    await session.flush()
    log.info("user_roles_set", user_id=str(user.id), roles=wanted, by=str(admin.id))
    return user


async def ban_user(session: AsyncSession, admin: User, ref: str, reason: str) -> User:
    """Ban the user: every access token stops working and refresh tokens are revoked."""
    user = await get_unscoped(session, ref, lock=True)
    if user.id == admin.id:
        raise CannotBanSelf()
    if user.banned_at is not None:
        raise UserAlreadyBanned()
    now = utcnow()
    user.banned_at = now
    user.ban_reason = reason
    user.token_version += 1
    await session.flush()
    revoked = await repository.revoke_refresh_tokens(session, user.id, now)
    log.info("user_banned", user_id=str(user.id), by=str(admin.id), refresh_revoked=revoked)
    return user


async def unban_user(session: AsyncSession, admin: User, ref: str) -> User:
    """Lift a ban. Tokens issued before the ban stay invalid: the user signs in again."""
    user = await get_unscoped(session, ref, lock=True)
    if user.banned_at is None:
        raise UserNotBanned()
    user.banned_at = None
    user.ban_reason = None
    await session.flush()
    log.info("user_unbanned", user_id=str(user.id), by=str(admin.id))
    return user
