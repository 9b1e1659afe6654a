"""`/api/user` (and the legacy alias `/api/users`): own profile, preferences, public profiles."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.auth.dependencies import CurrentUser, CurrentUserForUpdate
from bazaar.files.errors import FileNotFound, FileRefInvalid
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.errors import NotFound
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope
from bazaar.users import service
from bazaar.users.schemas import (
    PreferencesOut,
    PreferencesUpdate,
    ProfileOut,
    ProfileUpdate,
    PublicProfileOut,
)

router = APIRouter()


@router.get("/profile", response_model=Envelope[ProfileOut])
async def get_profile(user: CurrentUser) -> Envelope[ProfileOut]:
    """Your own profile: name, avatar, bio, locale, time zone, roles and referral code."""
    return Envelope(data=ProfileOut.of(user))


@router.get("/me", response_model=Envelope[ProfileOut])
async def get_me(user: CurrentUser) -> Envelope[ProfileOut]:
    """Same as `GET /profile`."""
    return Envelope(data=ProfileOut.of(user))


@router.put(
    "/profile",
    response_model=Envelope[ProfileOut],
    responses=errors(FileNotFound, FileRefInvalid),
)
async def put_profile(
    changes: ProfileUpdate, user: CurrentUserForUpdate, session: WriteSession
) -> Envelope[ProfileOut]:
    """Update your profile. Only the fields you send change (same as PATCH).

    `locale` is a short language tag (`en`, `pt-BR`); `timezone` an IANA name
    (`Europe/Berlin`). Send `avatarFileId` or `bio` as null to clear them.
    """
    await service.update_profile(session, user, changes)
    return Envelope(data=ProfileOut.of(user))


@router.patch(
    "/profile",
    response_model=Envelope[ProfileOut],
    responses=errors(FileNotFound, FileRefInvalid),
)
async def patch_profile(
    changes: ProfileUpdate, user: CurrentUserForUpdate, session: WriteSession
) -> Envelope[ProfileOut]:
    """Update your profile. Only the fields you send change."""
    await service.update_profile(session, user, changes)
    return Envelope(data=ProfileOut.of(user))


@router.get("/preferences", response_model=Envelope[PreferencesOut])
async def get_preferences(user: CurrentUser) -> Envelope[PreferencesOut]:
    """Your notification channels per event type (in-app, email, Telegram), language and
    display currency. Every known event is listed, with defaults for those never changed."""
    return Envelope(data=PreferencesOut.model_validate(service.get_preferences(user)))


@router.put("/preferences", response_model=Envelope[PreferencesOut])
async def put_preferences(
    changes: PreferencesUpdate, user: CurrentUserForUpdate, session: WriteSession
) -> Envelope[PreferencesOut]:
    """Change preferences. Events and channels you leave out keep their current setting;
    unknown event or channel names are refused. Returns the full preferences."""
    prefs = await service.update_preferences(session, user, changes)
    return Envelope(data=PreferencesOut.model_validate(prefs))


@router.get(
    "/{ref}/public",
    response_model=Envelope[PublicProfileOut],
    responses=errors(NotFound("User not found")),
)
async def get_public_profile(ref: str, session: ReadSession) -> Envelope[PublicProfileOut]:
    """Anyone's public profile, by user id (UUID or legacy 24-hex id). No sign-in needed.

    Only the `seller` role is shown. Unknown and banned users are 404.
    """
    profile = await service.public_profile(session, ref)
    return Envelope(data=PublicProfileOut.model_validate(profile))
