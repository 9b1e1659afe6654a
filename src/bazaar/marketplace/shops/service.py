"""Shop rules: one shop per user, unique slugs, checksummed payout wallets, seller role.

Other domains use `get_shop_by_owner` (None when the user has no shop), `get_shop`
(404 SHOP_NOT_FOUND) and `SUPPORTED_TOKENS`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import ValidationFailed
from bazaar.kit.money import format_money
from bazaar.kit.wallets import normalize_payout_wallets
from bazaar.marketplace.categories.slugs import derive_base, first_free
from bazaar.marketplace.shops import repository as repo
from bazaar.marketplace.shops.errors import ShopExists, ShopNotFound, SlugTaken
from bazaar.marketplace.shops.schemas import (
    RESERVED_SLUGS,
    SUPPORTED_TOKENS,
    AutoAcceptIn,
    ShopCreate,
    ShopFields,
    ShopUpdate,
)
from bazaar.models import Shop, User

__all__ = [
    "SUPPORTED_TOKENS",
    "create_shop",
    "get_own_shop",
    "get_shop",
    "get_shop_by_owner",
    "update_shop",
]

SELLER_ROLE = "seller"


async def get_shop_by_owner(session: AsyncSession, owner_id: uuid.UUID) -> Shop | None:
    return await repo.by_owner(session, owner_id)


async def get_shop(session: AsyncSession, ref: str | uuid.UUID) -> Shop:
    """A shop by UUID, slug or 24-hex legacy id; 404 SHOP_NOT_FOUND otherwise."""
    shop = await repo.by_ref(session, ref)
    if shop is None:
        raise ShopNotFound()
    return shop


async def get_own_shop(session: AsyncSession, user: User, lock: bool = False) -> Shop:
    shop = await repo.by_owner(session, user.id, lock=lock)
    if shop is None:
        raise ShopNotFound("You have no shop yet")
    return shop


def _slug_taken() -> SlugTaken:
    return SlugTaken(details=[{"path": "slug", "msg": "already in use"}])


async def _flush(session: AsyncSession) -> None:
    """Flush; a unique-constraint race lost to a concurrent request gets its proper code."""
    try:
        await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if "owner_id" in text:
            raise ShopExists() from exc
        if "slug" in text:
            raise _slug_taken() from exc
        raise


def _auto_accept(rules: AutoAcceptIn) -> dict[str, Any]:
    if rules.enabled and rules.max_price is None:
        raise ValidationFailed.on("autoAccept.maxPrice", "required when auto-accept is enabled")
    return {
        "enabled": rules.enabled,
        "maxPrice": format_money(rules.max_price),
        "tokens": list(rules.tokens),
    }


def _check_auto_accept_tokens(shop: Shop) -> None:
    outside = [t for t in shop.auto_accept.get("tokens", []) if t not in shop.accepted_tokens]
    if outside:
        raise ValidationFailed.on(
            "autoAccept.tokens", f"not among the shop's accepted tokens: {', '.join(outside)}"
        )


def _apply(shop: Shop, data: ShopFields) -> None:
    """Copy the optional fields present in `data`; JSON values are new objects (see kit/db)."""
    given = data.model_fields_set
    if "description" in given:
        shop.description = data.description
    if "logo_file_id" in given:
        shop.logo_file_id = data.logo_file_id
    if "policies" in given and data.policies is not None:
        shop.policies = data.policies.model_dump(exclude_none=True)
    if "payout_wallets" in given and data.payout_wallets is not None:
        shop.payout_wallets = normalize_payout_wallets(data.payout_wallets, "payoutWallets")
    if "accepted_tokens" in given and data.accepted_tokens is not None:
        shop.accepted_tokens = list(data.accepted_tokens)
    if "auto_accept" in given and data.auto_accept is not None:
        shop.auto_accept = _auto_accept(data.auto_accept)
    _check_auto_accept_tokens(shop)


async def create_shop(session: AsyncSession, user: User, data: ShopCreate) -> Shop:
    """Open the caller's shop and make them a seller; 409 SHOP_EXISTS for a second one."""
    if await repo.by_owner(session, user.id) is not None:
        raise ShopExists()
    if data.slug is not None:
        if await repo.slug_in_use(session, data.slug):
            raise _slug_taken()
        slug = data.slug
    else:
        base = derive_base(data.name, fallback="shop", reserved=RESERVED_SLUGS)
        slug = first_free(base, await repo.taken_slugs(session, base))
    shop = Shop(
        owner_id=user.id,
        name=data.name,
        slug=slug,
        policies={},
        payout_wallets={},
        accepted_tokens=list(SUPPORTED_TOKENS),
        auto_accept=_auto_accept(AutoAcceptIn()),
    )
    _apply(shop, data)
    session.add(shop)
    if not user.has_role(SELLER_ROLE):
        user.roles = [*(user.roles or []), SELLER_ROLE]
    await _flush(session)
    return shop


async def update_shop(session: AsyncSession, user: User, data: ShopUpdate) -> Shop:
    """Change the caller's own shop; 404 SHOP_NOT_FOUND when they have none."""
    shop = await get_own_shop(session, user, lock=True)
    if "slug" in data.model_fields_set and data.slug is not None and data.slug != shop.slug:
        if await repo.slug_in_use(session, data.slug, exclude=shop.id):
            raise _slug_taken()
        shop.slug = data.slug
    if "name" in data.model_fields_set and data.name is not None:
        shop.name = data.name
    _apply(shop, data)
    await _flush(session)
    return shop
