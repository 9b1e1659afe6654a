"""`/api/address`: the signed-in user's address book (one default address)."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.auth.dependencies import CurrentUser
from bazaar.kit.deps import InlineReadSession, ReadSession, WriteSession
from bazaar.kit.errors import NotFound
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.users import address_service
from bazaar.users.address_schemas import AddressCreate, AddressDeleted, AddressOut, AddressUpdate
from bazaar.users.errors import AddressLimitReached, DefaultAddressRequired

router = APIRouter()

_ADDRESS_NOT_FOUND = NotFound("Address not found")


@router.get("", response_model=Envelope[Page[AddressOut]])
async def list_addresses(
    user: CurrentUser, session: InlineReadSession, params: Pagination
) -> Envelope[Page[AddressOut]]:
    """Your saved addresses, the default first, then the newest."""
    # Inline on SQLite: at most 50 rows by an indexed owner lookup, one of the hottest reads
    # (docs/performance.md).
    rows, total = await address_service.list_addresses(session, user, params)
    items = [AddressOut.model_validate(row) for row in rows]
    return Envelope(data=Page[AddressOut].build(items, total, params))


@router.post(
    "", response_model=Envelope[AddressOut], status_code=201, responses=errors(AddressLimitReached)
)
async def create_address(
    data: AddressCreate, user: CurrentUser, session: WriteSession
) -> Envelope[AddressOut]:
    """Save an address. Your first address becomes the default; send `isDefault: true` to
    make a later one the default. At most 50 addresses (409 `ADDRESS_LIMIT_REACHED`).
    `country` is an ISO 3166-1 alpha-2 code (`US`, `DE`)."""
    address = await address_service.create_address(session, user, data)
    return Envelope(data=AddressOut.model_validate(address))


@router.get(
    "/{address_id}", response_model=Envelope[AddressOut], responses=errors(_ADDRESS_NOT_FOUND)
)
async def get_address(
    address_id: str, user: CurrentUser, session: ReadSession
) -> Envelope[AddressOut]:
    """One of your addresses (UUID or legacy id)."""
    address = await address_service.get_address(session, user, address_id)
    return Envelope(data=AddressOut.model_validate(address))


@router.put(
    "/{address_id}",
    response_model=Envelope[AddressOut],
    responses=errors(_ADDRESS_NOT_FOUND, DefaultAddressRequired),
)
async def put_address(
    address_id: str, changes: AddressUpdate, user: CurrentUser, session: WriteSession
) -> Envelope[AddressOut]:
    """Update an address. Only the fields you send change (same as PATCH).

    `isDefault: true` makes it the default; `isDefault: false` on the default address is
    refused (409 `DEFAULT_ADDRESS_REQUIRED`): make another address the default instead."""
    address = await address_service.update_address(session, user, address_id, changes)
    return Envelope(data=AddressOut.model_validate(address))


@router.patch(
    "/{address_id}",
    response_model=Envelope[AddressOut],
    responses=errors(_ADDRESS_NOT_FOUND, DefaultAddressRequired),
)
async def patch_address(
    address_id: str, changes: AddressUpdate, user: CurrentUser, session: WriteSession
) -> Envelope[AddressOut]:
    """Update an address. Only the fields you send change."""
    address = await address_service.update_address(session, user, address_id, changes)
    return Envelope(data=AddressOut.model_validate(address))


@router.delete(
    "/{address_id}", response_model=Envelope[AddressDeleted], responses=errors(_ADDRESS_NOT_FOUND)
)
async def delete_address(
    address_id: str, user: CurrentUser, session: WriteSession
) -> Envelope[AddressDeleted]:
    """Delete an address. If it was the default, your most recently added remaining address
    becomes the default; `defaultAddressId` says which."""
    deleted_id, default_id = await address_service.delete_address(session, user, address_id)
    return Envelope(data=AddressDeleted(id=deleted_id, default_address_id=default_id))


@router.post(
    "/{address_id}/default",
    response_model=Envelope[AddressOut],
    responses=errors(_ADDRESS_NOT_FOUND),
)
async def make_default(
    address_id: str, user: CurrentUser, session: WriteSession
) -> Envelope[AddressOut]:
    """Make this address your default (the previous default is unset)."""
    address = await address_service.set_default(session, user, address_id)
    return Envelope(data=AddressOut.model_validate(address))
