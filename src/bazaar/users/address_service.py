"""Address book rules: owner-only access, at most 50 addresses, exactly one default."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import NotFound
from bazaar.kit.pagination import PageParams
from bazaar.models import Address, User
from bazaar.users import address_repository as repo
from bazaar.users.address_schemas import AddressCreate, AddressUpdate
from bazaar.users.errors import AddressLimitReached, DefaultAddressRequired
from bazaar.users.repository import lock_user

MAX_ADDRESSES = 50
_FIELDS = (
    "label",
    "full_name",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


async def list_addresses(
    session: AsyncSession, user: User, params: PageParams
) -> tuple[list[Address], int]:
    return await repo.list_readable(session, user, params)


async def find_address(session: AsyncSession, user: User, ref: str) -> Address | None:
    """One of the user's own addresses by UUID or legacy id, or None (also for anyone
    else's): for other domains that answer with their own error."""
    return await repo.get_readable(session, user, ref)


async def get_address(session: AsyncSession, user: User, ref: str) -> Address:
    """One of the user's own addresses; anyone else's is 404, as a missing one."""
    address = await repo.get_readable(session, user, ref)
    if address is None:
        raise NotFound("Address not found")
    return address


async def _make_default(session: AsyncSession, address: Address) -> None:
    # The old default must be unset in the database before the new one is set: the partial
    # unique index `uq_addresses_one_default` is checked row by row.
    await repo.clear_default(session, address.user_id, keep=address.id)
    address.is_default = True
    await session.flush()


async def create_address(session: AsyncSession, user: User, data: AddressCreate) -> Address:
    """Save a new address; the first one (or one sent with isDefault=true) is the default."""
    await lock_user(session, user.id)
    count = await repo.count_owned(session, user.id)
    if count >= MAX_ADDRESSES:
        raise AddressLimitReached(
            f"You can save at most {MAX_ADDRESSES} addresses; delete one first"
        )
    address = Address(
        user_id=user.id, is_default=False, **data.model_dump(include=set(_FIELDS), by_alias=False)
    )
    session.add(address)
    await session.flush()
    if count == 0 or data.is_default:
        await _make_default(session, address)
    return address


async def update_address(
    session: AsyncSession, user: User, ref: str, changes: AddressUpdate
) -> Address:
    """Change the fields that were sent (PUT and PATCH are both partial)."""
    await lock_user(session, user.id)
    address = await get_address(session, user, ref)
    sent = changes.model_fields_set
    if changes.is_default is False and address.is_default:
        raise DefaultAddressRequired()
    for field in _FIELDS:
        if field in sent:
            setattr(address, field, getattr(changes, field))
    await session.flush()
    if changes.is_default and not address.is_default:
        await _make_default(session, address)
    return address


async def set_default(session: AsyncSession, user: User, ref: str) -> Address:
    await lock_user(session, user.id)
    address = await get_address(session, user, ref)
    if not address.is_default:
        await _make_default(session, address)
    return address


async def delete_address(
    session: AsyncSession, user: User, ref: str
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Delete one address; when it was the default, the newest remaining one takes over.

    Returns the deleted id and the user's default address id afterwards (None when none).
    """
    await lock_user(session, user.id)
    address = await get_address(session, user, ref)
    deleted_id, was_default = address.id, address.is_default
    await session.delete(address)
    await session.flush()
    if not was_default:
        return deleted_id, await repo.default_id(session, user.id)
    successor = await repo.newest_owned(session, user.id)
    if successor is None:
        return deleted_id, None
    await _make_default(session, successor)
    return deleted_id, successor.id
