"""Development accounts, one per role (`bazaar seed`, or at startup when SEED_USERS is on)."""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from pwdlib.exceptions import UnknownHashError

from bazaar.config import ConfigError, Settings
from bazaar.kit.db import Database, Transactions, json_array_contains, utcnow
from bazaar.kit.security import hash_password_async, verify_password_async
from bazaar.models import User
from bazaar.users.repository import find_by_email
from bazaar.users.service import new_referral_code


class DevUser(NamedTuple):
    role: str
    email: str
    password: str
    name: str


# Listed in the README; development only, never for a public server.
DEV_USERS: tuple[DevUser, ...] = (
    DevUser("admin", "admin@bazaar.local", "Admin123!dev", "Dev Admin"),
    DevUser("buyer", "buyer@bazaar.local", "Buyer123!dev", "Dev Buyer"),
    DevUser("seller", "seller@bazaar.local", "Seller123!dev", "Dev Seller"),
    DevUser("resolver", "resolver@bazaar.local", "Resolver123!dev", "Dev Resolver"),
    DevUser("guard", "guard@bazaar.local", "Guard123!dev", "Dev Guard"),
)


async def seed_users(db: Transactions, settings: Settings) -> int:
    """Create each development account that does not exist yet; returns how many were made.

    Existing accounts are left exactly as they are (roles, password, profile). Passwords are
    hashed before the transaction, which then only inserts.
    """
    if settings.is_production:
        raise ConfigError("development accounts are never created in production")
    hashes = {dev.email: await hash_password_async(settings, dev.password) for dev in DEV_USERS}
    created = 0
    async with db.transaction() as session:
        for dev in DEV_USERS:
            if await find_by_email(session, dev.email) is not None:
                continue
            session.add(
                User(
                    email=dev.email,
                    name=dev.name,
                    roles=[dev.role],
                    password_hash=hashes[dev.email],
                    email_verified_at=utcnow(),
                    referral_code=await new_referral_code(session),
                )
            )
            # Flushed one by one so the next referral-code check sees this row.
            await session.flush()
            created += 1
    return created


async def accounts_with_dev_passwords(db: Database, settings: Settings) -> list[str]:
    """Emails of accounts that still sign in with a development password: the development
    accounts and every admin, each tried against the published passwords. A production
    server refuses to start while this is not empty (checked once, at startup)."""
    dev_emails = [dev.email for dev in DEV_USERS]
    admin = json_array_contains(User.roles, "admin", db.backend)
    stmt = sa.select(User.email, User.password_hash).where(
        sa.or_(sa.func.lower(User.email).in_(dev_emails), admin), User.password_hash.is_not(None)
    )
    async with db.reading() as session:
        rows = (await session.execute(stmt)).all()
    found = []
    for email, stored in rows:
        if stored is None:
            continue
        for dev in DEV_USERS:
            try:
                valid, _ = await verify_password_async(settings, dev.password, stored)
            except (ValueError, UnknownHashError):
                valid = False
            if valid:
                found.append(email)
                break
    return found
