"""Development accounts, one per role (`bazaar seed`, or at startup when SEED_USERS is on)."""

from __future__ import annotations

from typing import NamedTuple

from bazaar.config import Settings
from bazaar.kit.db import Transactions, utcnow
from bazaar.kit.security import hash_password_async
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
