"""/api/auth: accounts, sign-in sessions, password recovery and email verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from bazaar.auth import service
from bazaar.auth.dependencies import BearerClaims, CurrentUser
from bazaar.auth.errors import (
    AccountBanned,
    AccountLocked,
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    InvalidToken,
    RecordedFailure,
    RefreshTokenReused,
)
from bazaar.auth.schemas import (
    AuthSession,
    AuthUser,
    EmailVerifyInput,
    LoginInput,
    LogoutInput,
    LogoutResult,
    Message,
    PasswordChangeInput,
    PasswordForgotInput,
    PasswordResetInput,
    RefreshInput,
    RegisterInput,
)
from bazaar.kit.deps import InlineReads, SettingsDep, Staged, WriteSession
from bazaar.kit.errors import RateLimited, ValidationFailed, envelope_error
from bazaar.kit.openapi import errors
from bazaar.kit.ratelimit import limit_auth, mail_cooldown
from bazaar.kit.schemas import Envelope

router = APIRouter()

LIMITED = [Depends(limit_auth)]
FORGOT_MESSAGE = (
    "If an account exists for this email address, we have sent it a link to reset the password."
)

# Mail endpoints also refuse an address that got an email moments ago (same code).
_MAIL_COOLDOWN = RateLimited("An email was sent here moments ago; see `Retry-After`")


def _session(result: service.SignedIn) -> Envelope[AuthSession]:
    t = result.tokens
    return Envelope(
        data=AuthSession(
            access_token=t.access_token,
            refresh_token=t.refresh_token,
            expires_in=t.expires_in,
            refresh_expires_in=t.refresh_expires_in,
            user=AuthUser.of(result.user),
        )
    )


def _recorded(exc: RecordedFailure) -> JSONResponse:
    # Returned, not raised: the unit of work then commits what the failure recorded.
    return envelope_error(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


def _agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[AuthSession],
    dependencies=LIMITED,
    responses=errors(EmailTaken, _MAIL_COOLDOWN),
)
async def register(
    body: RegisterInput, request: Request, sessions: Staged, settings: SettingsDep
) -> Envelope[AuthSession]:
    """Create an account and sign it in.

    `role` is `buyer` (default) or `seller`. A `referralCode` must belong to an existing
    user. The account gets its own referral code, and a verification link is emailed.
    """
    await mail_cooldown(request, f"address:{body.email}")
    result = await service.register(sessions, settings, body, _agent(request))
    return _session(result)


@router.post(
    "/login",
    response_model=Envelope[AuthSession],
    dependencies=LIMITED,
    responses=errors(InvalidCredentials, AccountBanned, AccountLocked),
)
async def login(
    body: LoginInput, request: Request, sessions: Staged, settings: SettingsDep
) -> Envelope[AuthSession]:
    """Sign in with email and password.

    Returns a short-lived access token (send it as `Authorization: Bearer ...`) and a
    refresh token for `POST /api/auth/refresh`. Emails are case-insensitive.
    """
    result = await service.login(sessions, settings, body.email, body.password, _agent(request))
    return _session(result)


@router.post(
    "/refresh",
    response_model=Envelope[AuthSession],
    dependencies=LIMITED,
    responses=errors(InvalidRefreshToken, RefreshTokenReused, AccountBanned),
)
async def refresh(
    body: RefreshInput, request: Request, session: WriteSession, settings: SettingsDep
) -> Any:
    """Exchange a refresh token for a new access token and a new refresh token.

    Each refresh token works once: keep the new one from the response.
    """
    try:
        result = await service.refresh(session, settings, body.refresh_token, _agent(request))
    except RecordedFailure as exc:
        return _recorded(exc)
    return _session(result)


@router.post(
    "/logout",
    response_model=Envelope[LogoutResult],
)
async def logout(
    session: WriteSession, claims: BearerClaims, body: LogoutInput | None = None
) -> Envelope[LogoutResult]:
    """End a sign-in session (safe to repeat): the one the `refreshToken` belongs to, and
    the one the bearer access token belongs to. Its refresh tokens are revoked and its
    access tokens stop working at once. Send either or both; with only the bearer token
    (no body) that session ends.

    With `allDevices: true` every session of the account ends and all access tokens stop
    working.
    """
    refresh_token = body.refresh_token if body is not None else None
    if refresh_token is None and claims is None:
        raise ValidationFailed.on("refreshToken", "send a refresh token or a bearer token")
    all_devices = body.all_devices if body is not None else False
    await service.logout(session, refresh_token, claims, all_devices)
    return Envelope(data=LogoutResult())


@router.get("/me", response_model=Envelope[AuthUser], dependencies=[InlineReads])
async def me(user: CurrentUser) -> Envelope[AuthUser]:
    """The signed-in account."""
    return Envelope(data=AuthUser.of(user))


@router.post(
    "/password/change",
    response_model=Envelope[AuthSession],
    dependencies=LIMITED,
    responses=errors(InvalidCurrentPassword, InvalidToken, AccountLocked),
)
async def change_password(
    body: PasswordChangeInput,
    user: CurrentUser,
    request: Request,
    sessions: Staged,
    settings: SettingsDep,
) -> Envelope[AuthSession]:
    """Change the password. Every other session is signed out; this response carries new
    tokens for the current one (the old access token stops working)."""
    result = await service.change_password(
        sessions, settings, user, body.current_password, body.new_password, _agent(request)
    )
    return _session(result)


@router.post(
    "/password/forgot",
    response_model=Envelope[Message],
    dependencies=LIMITED,
    responses=errors(_MAIL_COOLDOWN),
)
async def forgot_password(
    body: PasswordForgotInput, request: Request, session: WriteSession
) -> Envelope[Message]:
    """Email a password-reset link (valid for one hour, usable once).

    The answer is the same whether or not an account uses the address.
    """
    await mail_cooldown(request, f"address:{body.email}")
    await service.forgot_password(session, body.email)
    return Envelope(data=Message(message=FORGOT_MESSAGE))


@router.post(
    "/password/reset",
    response_model=Envelope[Message],
    dependencies=LIMITED,
    responses=errors(InvalidToken),
)
async def reset_password(
    body: PasswordResetInput, sessions: Staged, settings: SettingsDep
) -> Envelope[Message]:
    """Set a new password with the token from the reset email, then sign in again.

    Every existing session of the account is signed out.
    """
    await service.reset_password(sessions, settings, body.token, body.new_password)
    return Envelope(data=Message(message="Your password has been reset. Sign in again."))


@router.post(
    "/email/verify/request",
    response_model=Envelope[Message],
    dependencies=LIMITED,
    responses=errors(EmailAlreadyVerified, _MAIL_COOLDOWN),
)
async def request_email_verification(
    user: CurrentUser, request: Request, session: WriteSession, settings: SettingsDep
) -> Envelope[Message]:
    """Email a new verification link to the signed-in account's address.

    Earlier links stop working.
    """
    await mail_cooldown(request, f"address:{user.email}", f"account:{user.id}")
    await service.request_verification(session, settings, user)
    return Envelope(data=Message(message=f"We have sent a verification link to {user.email}."))


@router.post(
    "/email/verify",
    response_model=Envelope[AuthUser],
    responses=errors(InvalidToken),
)
async def verify_email(body: EmailVerifyInput, session: WriteSession) -> Envelope[AuthUser]:
    """Confirm the email address with the token from the verification email.

    No sign-in needed, so the link works on any device.
    """
    user = await service.verify_email(session, body.token)
    return Envelope(data=AuthUser.of(user))
