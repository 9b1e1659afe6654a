"""Sign-up, sign-in, session refresh and account recovery.

Nothing here commits: the request's unit of work does. Errors that must still leave a
trace (failed-login counters, a revoked token family) are `RecordedFailure`s; the
endpoints render them without raising, so that trace is committed.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from anyio import to_thread
from pwdlib.exceptions import UnknownHashError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.auth import lockout, repository
from bazaar.auth.errors import (
    AccountBanned,
    AccountLocked,
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    InvalidToken,
    RefreshTokenReused,
)
from bazaar.auth.schemas import RegisterInput
from bazaar.auth.tokens import (
    EMAIL_VERIFICATION,
    PASSWORD_RESET,
    IssuedTokens,
    consume_user_token,
    create_user_token,
    issue_tokens,
)
from bazaar.config import Settings
from bazaar.email.service import queue_email
from bazaar.kit.db import Sessions, utcnow
from bazaar.kit.errors import AppError, ValidationFailed
from bazaar.kit.jobs import enqueue
from bazaar.kit.locks import assert_no_write_transaction
from bazaar.kit.security import (
    PASSWORD_WORK,
    AccessClaims,
    dummy_hash,
    hash_password_async,
    password_hasher,
    sha256_hex,
    verify_password_async,
)
from bazaar.models import User
from bazaar.users.service import new_referral_code

log = structlog.get_logger("bazaar.auth")

# bcrypt reads only the first 72 bytes of a password; the old Node system (bcryptjs)
# silently ignored the rest, while the bcrypt package refuses longer input.
BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: IssuedTokens


# -- passwords ---------------------------------------------------------------------------


async def _check_password(
    settings: Settings, password: str, stored: str | None
) -> tuple[bool, str | None]:
    """(valid, replacement hash). Runs in a thread, outside any write transaction.

    Without a stored hash (unknown email, password-less account) a dummy hash is verified
    instead, so the answer takes as long as for a wrong password and reveals nothing.
    """
    if stored is None:
        fake = await to_thread.run_sync(
            dummy_hash, settings.argon2_time_cost, settings.argon2_memory_cost
        )
        await verify_password_async(settings, password, fake)
        return False, None
    try:
        return await verify_password_async(settings, password, stored)
    except UnknownHashError:
        log.warning("unknown_password_hash_format")
        return False, None
    except ValueError:
        truncated = password.encode()[:BCRYPT_MAX_BYTES]
        if not stored.startswith("$2") or len(truncated) == len(password.encode()):
            log.warning("password_hash_unverifiable")
            return False, None
    try:
        assert_no_write_transaction(PASSWORD_WORK)
        valid = await to_thread.run_sync(password_hasher(settings).verify, truncated, stored)
    except ValueError:
        log.warning("password_hash_unverifiable")
        return False, None
    # Re-hash the full password so later sign-ins no longer depend on the truncation.
    return valid, (await hash_password_async(settings, password)) if valid else None


# -- registration and sign-in --------------------------------------------------------------


async def register(
    sessions: Sessions, settings: Settings, data: RegisterInput, user_agent: str | None
) -> SignedIn:
    """Create an account with a referral code of its own, sign it in, email a verification.

    The password is hashed first, with no connection held; then one short transaction."""
    password_hash = await hash_password_async(settings, data.password)
    async with sessions.transaction() as session:
        if await repository.email_taken(session, data.email):
            raise EmailTaken()
        referred_by: uuid.UUID | None = None
        if data.referral_code:
            referred_by = await repository.user_id_by_referral_code(session, data.referral_code)
            if referred_by is None:
                raise ValidationFailed.on("referralCode", "unknown referral code")
        user = User(
            email=data.email,
            name=data.name,
            roles=[data.role],
            password_hash=password_hash,
            referral_code=await new_referral_code(session),
            referred_by_id=referred_by,
            token_version=0,
            last_login_at=utcnow(),
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:
            # Another registration with this email committed between our check and insert.
            raise EmailTaken() from exc
        await _send_verification(session, settings, user)
        tokens = await issue_tokens(session, settings, user, user_agent=user_agent)
    return SignedIn(user, tokens)


async def login(
    sessions: Sessions, settings: Settings, email: str, password: str, user_agent: str | None
) -> SignedIn:
    """Check the credentials, count failures toward the lockout, issue a session.

    Read the account and the address's lock, verify the password with no connection held,
    then record the outcome in a short transaction that re-reads both under locks. A
    failure is committed before it is raised, so the lockout counts it; an address without
    an account counts and locks exactly like one with an account."""
    read = sessions.session()
    user = await repository.user_by_email(read, email)
    now = utcnow()
    locked = await lockout.locked_until(read, email, now)
    await sessions.release()
    if locked is not None:
        raise AccountLocked.until(locked)
    stored = user.password_hash if user is not None else None
    valid, new_hash = await _check_password(settings, password, stored)
    async with sessions.transaction() as session:
        outcome = await _record_login(
            session,
            settings,
            email,
            user.id if user is not None else None,
            stored,
            valid,
            new_hash,
            now,
            user_agent,
        )
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def _record_login(
    session: AsyncSession,
    settings: Settings,
    email: str,
    user_id: uuid.UUID | None,
    checked_hash: str | None,
    valid: bool,
    new_hash: str | None,
    now: datetime,
    user_agent: str | None,
) -> SignedIn | AppError:
    """The outcome of a password check, under the account's and the address's locks (in
    that order, as everywhere): a session, or the error to raise once it is committed."""
    user = await repository.user_by_id(session, user_id, lock=True) if user_id else None
    # A password changed while we were checking makes the answer about an old one.
    failed = user is None or not valid or user.password_hash != checked_hash
    locked = await lockout.check_and_count(session, settings, email, failed, now)
    if locked is not None:
        return AccountLocked.until(locked)
    if failed or user is None:
        return InvalidCredentials()
    # The password is right: only now may the caller learn the account is banned.
    if user.banned_at is not None:
        return AccountBanned()
    if new_hash is not None:
        user.password_hash = new_hash  # legacy bcrypt (or old Argon2 parameters) upgraded
    user.last_login_at = now
    await session.flush()
    tokens = await issue_tokens(session, settings, user, user_agent=user_agent)
    return SignedIn(user, tokens)


# -- refresh and logout ------------------------------------------------------------------------


async def refresh(
    session: AsyncSession, settings: Settings, raw_token: str, user_agent: str | None
) -> SignedIn:
    """Rotate a refresh token: the presented one is spent, a new one continues its family.

    Presenting a token that was already rotated means two parties hold it (one of them
    stole it), so the whole family is revoked.
    """
    token = await repository.refresh_token_by_hash(session, sha256_hex(raw_token))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise InvalidRefreshToken()
    if token.rotated_at is not None:
        await repository.revoke_family(session, token.family_id, now)
        log.warning("refresh_token_reused", user_id=str(token.user_id))
        raise RefreshTokenReused()
    user = await repository.user_by_id(session, token.user_id)
    if user is None:
        raise InvalidRefreshToken()
    if user.banned_at is not None:
        raise AccountBanned()
    token.rotated_at = now
    tokens = await issue_tokens(
        session, settings, user, family_id=token.family_id, user_agent=user_agent
    )
    return SignedIn(user, tokens)


async def logout(
    session: AsyncSession,
    raw_token: str | None,
    claims: AccessClaims | None,
    all_devices: bool,
) -> None:
    """End the session named by the refresh token and/or by the bearer access token (its
    `sid`): its refresh tokens are revoked and its access tokens stop working at once.
    Unknown or spent tokens are a no-op; `all_devices` ends every session of the account."""
    now = utcnow()
    user_id: uuid.UUID | None = None
    if raw_token is not None:
        token = await repository.refresh_token_by_hash(session, sha256_hex(raw_token))
        if token is not None:
            await repository.revoke_family(session, token.family_id, now)
            active = (
                token.revoked_at is None and token.rotated_at is None and token.expires_at > now
            )
            user_id = token.user_id if active else None
    if claims is not None:
        if claims.session_id is not None:
            await repository.revoke_family(session, claims.session_id, now)
        user_id = claims.user_id
    if all_devices and user_id is not None:
        user = await repository.user_by_id(session, user_id, lock=True)
        if user is not None:
            await _end_all_sessions(session, user, now)


async def _end_all_sessions(session: AsyncSession, user: User, now: datetime) -> None:
    """Invalidate every access token (token version) and every refresh token of `user`."""
    user.token_version = (user.token_version or 0) + 1
    await repository.revoke_user_refresh_tokens(session, user.id, now)
    await session.flush()


# -- passwords and email ---------------------------------------------------------------------


async def change_password(
    sessions: Sessions,
    settings: Settings,
    user: User,
    current: str,
    new: str,
    user_agent: str | None,
) -> SignedIn:
    """Set a new password; every other session ends, this one continues with new tokens.

    The current password is checked like a sign-in: a locked address is refused first,
    and a wrong one counts toward the lockout. Both hashes are computed with no connection
    held; the change is then recorded under the account's lock, refused if the password
    changed meanwhile."""
    now = utcnow()
    locked = await lockout.locked_until(sessions.session(), user.email, now)
    await sessions.release()
    if locked is not None:
        raise AccountLocked.until(locked)
    checked = user.password_hash
    valid, _ = await _check_password(settings, current, checked)
    new_hash = await hash_password_async(settings, new) if valid else None
    async with sessions.transaction() as session:
        outcome = await _record_password_change(
            session, settings, user.id, checked, new_hash, now, user_agent
        )
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def _record_password_change(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    checked_hash: str | None,
    new_hash: str | None,
    now: datetime,
    user_agent: str | None,
) -> SignedIn | AppError:
    user = await repository.user_by_id(session, user_id, lock=True)
    if user is None:
        return InvalidToken()
    failed = new_hash is None or user.password_hash != checked_hash
    locked = await lockout.check_and_count(session, settings, user.email, failed, now)
    if locked is not None:
        return AccountLocked.until(locked)
    if failed or new_hash is None:
        return InvalidCurrentPassword(details=[{"path": "currentPassword", "msg": "is incorrect"}])
    user.password_hash = new_hash
    # A reset link mailed before the change must not undo it.
    await repository.discard_unused_user_tokens(session, user.id, PASSWORD_RESET)
    await _end_all_sessions(session, user, now)
    tokens = await issue_tokens(session, settings, user, user_agent=user_agent)
    return SignedIn(user, tokens)


# The job that does the lookup-dependent part of "forgot password" (auth/jobs.py).
PASSWORD_RESET_JOB = "auth.password_reset"


async def forgot_password(session: AsyncSession, email: str) -> None:
    """Queue the reset for `email`, whether or not an account uses it.

    The request does exactly the same work either way (one job row), so neither its
    answer nor its timing tells which accounts exist; the job looks the account up and
    emails a link only when there is one (`send_password_reset`)."""
    await enqueue(session, PASSWORD_RESET_JOB, {"email": email.strip().lower()})


async def send_password_reset(session: AsyncSession, settings: Settings, email: str) -> bool:
    """Email a reset link when an active account uses `email` (the job's work)."""
    user = await repository.user_by_email(session, email)
    if user is None or user.banned_at is not None or user.email is None:
        return False
    raw = await create_user_token(
        session, user.id, PASSWORD_RESET, settings.password_reset_expires_in
    )
    await queue_email(
        session,
        user.email,
        "password_reset",
        {
            "token": raw,
            "link": _frontend_link(settings, "reset-password", raw),
            "expires_minutes": math.ceil(settings.password_reset_expires_in.total_seconds() / 60),
        },
    )
    return True


async def reset_password(sessions: Sessions, settings: Settings, raw_token: str, new: str) -> None:
    """Use a reset token once: new password, every session ended, lockout lifted.

    The new password is hashed before the transaction that spends the token."""
    new_hash = await hash_password_async(settings, new)
    async with sessions.transaction() as session:
        token = await consume_user_token(session, raw_token, PASSWORD_RESET)
        if token is None:
            raise InvalidToken()
        user = await repository.user_by_id(session, token.user_id, lock=True)
        if user is None or user.banned_at is not None:
            raise InvalidToken()
        now = utcnow()
        user.password_hash = new_hash
        await repository.discard_unused_user_tokens(session, user.id, PASSWORD_RESET)
        await lockout.clear(session, user.email)
        # The link arrived in this mailbox, which proves the address as well.
        if user.email_verified_at is None:
            user.email_verified_at = now
        await _end_all_sessions(session, user, now)


async def request_verification(session: AsyncSession, settings: Settings, user: User) -> None:
    if user.email_verified_at is not None:
        raise EmailAlreadyVerified()
    await _send_verification(session, settings, user)


async def verify_email(session: AsyncSession, raw_token: str) -> User:
    token = await consume_user_token(session, raw_token, EMAIL_VERIFICATION)
    if token is None:
        raise InvalidToken()
    user = await repository.user_by_id(session, token.user_id, lock=True)
    if user is None:
        raise InvalidToken()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        await session.flush()
    return user


async def _send_verification(session: AsyncSession, settings: Settings, user: User) -> None:
    raw = await create_user_token(
        session, user.id, EMAIL_VERIFICATION, settings.email_verification_expires_in
    )
    await queue_email(
        session,
        user.email,
        "email_verification",
        {
            "email": user.email,
            "token": raw,
            "link": _frontend_link(settings, "verify-email", raw),
            "expires_hours": math.ceil(
                settings.email_verification_expires_in.total_seconds() / 3600
            ),
        },
    )


def _frontend_link(settings: Settings, page: str, token: str) -> str:
    """A link into the web app (the first FRONTEND_URL when several are allowed)."""
    base = settings.frontend_url.split(",")[0].strip().rstrip("/")
    return f"{base}/{page}?token={token}"


async def sign_in_locks(session: AsyncSession, emails: list[str]) -> dict[str, datetime]:
    """Sign-in locks in force for these addresses, by address (for admin views)."""
    return await lockout.locks_of(session, emails, utcnow())
