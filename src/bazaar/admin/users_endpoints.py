"""`/api/admin/users`: search accounts, set roles, ban and unban (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.auth.dependencies import AdminUser
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.errors import NotFound
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.users import admin_service
from bazaar.users.errors import (
    CannotBanSelf,
    CannotRemoveOwnAdmin,
    UserAlreadyBanned,
    UserNotBanned,
)
from bazaar.users.schemas import AdminUserOut, BanInput, Role, RolesUpdate

router = APIRouter()

_USER_NOT_FOUND = NotFound("User not found")


@router.get("", response_model=Envelope[Page[AdminUserOut]])
async def list_users(
    admin: AdminUser,
    session: ReadSession,
    params: Pagination,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the email or name (any case)")
    ] = None,
    role: Annotated[Role | None, Query(description="Only users holding this role")] = None,
    banned: Annotated[bool | None, Query(description="true: only banned; false: not")] = None,
) -> Envelope[Page[AdminUserOut]]:
    """Search users, newest first."""
    rows, total = await admin_service.search_users(
        session, params, q=(q or "").strip() or None, role=role, banned=banned
    )
    items = await admin_service.views(session, rows)
    return Envelope(data=Page[AdminUserOut].build(items, total, params))


@router.get("/{ref}", response_model=Envelope[AdminUserOut], responses=errors(_USER_NOT_FOUND))
async def get_user(ref: str, admin: AdminUser, session: ReadSession) -> Envelope[AdminUserOut]:
    """One user by UUID or legacy id, with ban and sign-in details."""
    user = await admin_service.get_unscoped(session, ref)
    return Envelope(data=await admin_service.view(session, user))


@router.put(
    "/{ref}/roles",
    response_model=Envelope[AdminUserOut],
    responses=errors(_USER_NOT_FOUND, CannotRemoveOwnAdmin),
)
async def set_roles(
    ref: str, body: RolesUpdate, admin: AdminUser, session: WriteSession
) -> Envelope[AdminUserOut]:
    """Replace the user's roles (a non-empty subset of admin, buyer, seller, resolver,
    guard). You cannot remove your own admin role (409 `CANNOT_REMOVE_OWN_ADMIN`)."""
    user = await admin_service.set_roles(session, admin, ref, list(body.roles))
    return Envelope(data=await admin_service.view(session, user))


@router.post(
    "/{ref}/ban",
    response_model=Envelope[AdminUserOut],
    responses=errors(_USER_NOT_FOUND, CannotBanSelf, UserAlreadyBanned),
)
async def ban_user(
    ref: str, body: BanInput, admin: AdminUser, session: WriteSession
) -> Envelope[AdminUserOut]:
    """Ban a user with a reason. Their access and refresh tokens stop working at once and
    their public profile disappears. You cannot ban yourself (409 `CANNOT_BAN_SELF`);
    banning a banned user is 409 `USER_ALREADY_BANNED`."""
    user = await admin_service.ban_user(session, admin, ref, body.reason)
    return Envelope(data=await admin_service.view(session, user))


@router.post(
    "/{ref}/unban",
    response_model=Envelope[AdminUserOut],
    responses=errors(_USER_NOT_FOUND, UserNotBanned),
)
async def unban_user(ref: str, admin: AdminUser, session: WriteSession) -> Envelope[AdminUserOut]:
    """Lift a ban (409 `USER_NOT_BANNED` if there is none). The user signs in again."""
    user = await admin_service.unban_user(session, admin, ref)
    return Envelope(data=await admin_service.view(session, user))
