"""Profiles, preferences, public profiles and operator-created admin accounts."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.files import service as files
from bazaar.kit.db import Transactions, utcnow
from bazaar.kit.errors import NotFound, ValidationFailed
from bazaar.kit.ids import get_by_ref
from bazaar.kit.security import hash_password_async, password_problem
from bazaar.models import User
from bazaar.users import repository
from bazaar.users.preferences import channel_enabled, effective_preferences, merge_preferences
from bazaar.users.schemas import PreferencesUpdate, ProfileUpdate

# Roles anyone may see on a public profile; the rest (admin, resolver, guard) are internal.
PUBLIC_ROLES = ("seller",)
# No 0/O/1/I: referral codes are read aloud and typed from screenshots.
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def normalize_email(raw: str) -> str:
    """A syntactically valid address, lower-cased (accounts are unique case-insensitively)."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed.on("email", str(exc)) from exc
    return checked.normalized.lower()


async def new_referral_code(session: AsyncSession) -> str:
    """A fresh, unused 8-character referral code."""
    while True:
        code = "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
        if not await repository.referral_code_taken(session, code):
            return code


async def update_profile(session: AsyncSession, user: User, changes: ProfileUpdate) -> User:
    """Apply the fields that were sent (partial update for both PUT and PATCH)."""
    sent = changes.model_fields_set
    if "name" in sent and changes.name is not None:
        user.name = changes.name
    if "avatar_file_id" in sent:
        if changes.avatar_file_id is not None:
            await files.check_refs(session, user, [changes.avatar_file_id], "avatar")
            await files.attach(session, [changes.avatar_file_id], "user", user.id)
        user.avatar_file_id = changes.avatar_file_id
    if "bio" in sent:
        user.bio = changes.bio or None
    if "locale" in sent and changes.locale is not None:
        user.locale = changes.locale
    if "timezone" in sent and changes.timezone is not None:
        user.timezone = changes.timezone
    await session.flush()
    return user


def get_preferences(user: User) -> dict[str, Any]:
    """Every event and channel, with defaults for whatever the user never set."""
    return effective_preferences(user.preferences, user.locale)


def wants_notification(user: User, event: str, channel: str) -> bool:
    """Whether the user wants `event` (e.g. `offer.received`) on `channel` (`inApp`,
    `email`, `telegram`); for the notifications domain's delivery."""
    return channel_enabled(user.preferences, event, channel)


async def update_preferences(
    session: AsyncSession, user: User, changes: PreferencesUpdate
) -> dict[str, Any]:
    user.preferences = merge_preferences(
        user.preferences, changes.notifications, changes.language, changes.display_currency
    )
    await session.flush()
    return get_preferences(user)


async def grant_role(session: AsyncSession, user_id: uuid.UUID, role: str) -> User:
    """Add `role` to the user's roles (no-op when held), read and written under the user's
    row lock: a concurrent change of the roles (an admin's `set_roles`, which locks the same
    row) is kept, never overwritten by a stale copy."""
    user = await session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFound("User not found")
    if not user.has_role(role):
        user.roles = [*(user.roles or []), role]
        await session.flush()
    return user


async def public_profile(session: AsyncSession, ref: str) -> dict[str, Any]:
    """What anyone may see about a user (by UUID or legacy id); banned users are 404.

    Returned as a dict with wire (camelCase) keys so other domains can add to it.
    """
    from bazaar.marketplace.reviews.service import completed_deals, rating_summary
    from bazaar.marketplace.shops.schemas import ShopPublic
    from bazaar.marketplace.shops.service import get_shop_by_owner

    user = await get_by_ref(session, User, ref, what="User")
    if user.banned_at is not None:
        raise NotFound("User not found")
    profile: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "avatarFileId": user.avatar_file_id,
        "bio": user.bio,
        "roles": [role for role in PUBLIC_ROLES if user.has_role(role)],
        "memberSince": user.created_at,
    }
    shop = await get_shop_by_owner(session, user.id)
    if shop is not None or user.has_role("seller"):
        # A seller's public profile: their shop, how buyers rate them, deals completed.
        profile["shop"] = ShopPublic.model_validate(shop).model_dump(mode="json") if shop else None
        profile["rating"] = await rating_summary(session, user.id, author_role="buyer")
        profile["completedDeals"] = await completed_deals(session, user.id)
    return profile


async def ensure_admin(
    db: Transactions, settings: Settings, email: str, password: str, name: str
) -> str:
    """Create an admin account ("created"), or grant the admin role to the account that
    already uses `email` ("promoted"; "unchanged" when it is an admin already).

    An existing account keeps its password: this command never takes over a login silently.
    """
    address = normalize_email(email)
    problem = password_problem(password)
    if problem:
        raise ValidationFailed.on("password", f"Password {problem}")
    display_name = name.strip()
    if not display_name or len(display_name) > 120:
        raise ValidationFailed.on("name", "must be 1 to 120 characters")

    password_hash = await hash_password_async(settings, password)
    async with db.transaction() as session:
        existing = await repository.find_by_email(session, address, lock=True)
        if existing is not None:
            if existing.has_role("admin"):
                return "unchanged"
            existing.roles = [*existing.roles, "admin"]
            await session.flush()
            return "promoted"
        session.add(
            User(
                email=address,
                name=display_name,
                roles=["admin"],
                password_hash=password_hash,
                email_verified_at=utcnow(),
                referral_code=await new_referral_code(session),
            )
        )
        await session.flush()
    return "created"
