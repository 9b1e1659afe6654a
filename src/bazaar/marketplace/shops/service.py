"""Shop rules: one shop per user, unique slugs, checksummed payout wallets, seller role,
and the token terms a shop's offers and templates must meet.

Other domains use `get_shop_by_owner` (None when the user has no shop), `get_shop`
(404 SHOP_NOT_FOUND) and `payment_terms`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.money import format_money
from bazaar.kit.tokens import Deployment, TokenRegistry, registry
from bazaar.kit.wallets import normalize_payout_wallets
from bazaar.marketplace.categories.slugs import derive_base, first_free
from bazaar.marketplace.shops import repository as repo
from bazaar.marketplace.shops.errors import ShopExists, ShopNotFound, SlugTaken
from bazaar.marketplace.shops.schemas import (
    RESERVED_SLUGS,
    AutoAcceptIn,
    ShopCreate,
    ShopFields,
    ShopUpdate,
)
from bazaar.models import Shop, User
from bazaar.users import service as users

__all__ = [
    "create_shop",
    "get_own_shop",
    "get_shop",
    "get_shop_by_owner",
    "payment_terms",
    "update_shop",
]

SELLER_ROLE = "seller"
# Derived-slug attempts: each lost one waits for the concurrent winner to commit, then
# picks the next free suffix, so this bounds only a burst of same-name shops.
SLUG_ATTEMPTS = 50


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


def payment_terms(
    settings: Settings,
    shop: Shop | None,
    currency: str,
    network: int | None,
    price: Decimal | None,
    *,
    price_path: str = "price",
) -> Deployment:
    """Check what a shop's offer or template asks to be paid in: a known token that the shop
    accepts (when the seller has a shop), on a network where the registry has its contract,
    and a price no finer than the token's smallest unit. 400 on the offending field."""
    tokens = registry(settings)
    token = tokens.token(currency)
    if shop is not None and shop.accepted_tokens and token.symbol not in shop.accepted_tokens:
        accepted = ", ".join(shop.accepted_tokens)
        raise ValidationFailed.on("currency", f"your shop accepts only {accepted}")
    deployment = tokens.deployment(token.symbol, network)
    tokens.check_amount(token.symbol, price, price_path, network=deployment.chain_id)
    return deployment


def _slug_taken() -> SlugTaken:
    return SlugTaken(details=[{"path": "slug", "msg": "already in use"}])


def _raise_unique(exc: IntegrityError) -> None:
    """A unique-constraint race lost to a concurrent request, with its proper code."""
    text = str(exc.orig)
    if "owner_id" in text:
        raise ShopExists() from exc
    if "slug" in text:
        raise _slug_taken() from exc
    raise exc


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        _raise_unique(exc)


async def _insert_with_derived_slug(session: AsyncSession, shop: Shop, base: str) -> None:
    """Insert `shop` under the first free of `base`, `base-2`, ...: the free slug is read
    without a lock, so a concurrent shop may take it first; the insert then fails on the
    unique index (after that shop commits) and the next free one is tried, in a savepoint."""
    for _ in range(SLUG_ATTEMPTS):
        shop.slug = first_free(base, await repo.taken_slugs(session, base))
        try:
            async with session.begin_nested():
                session.add(shop)
            return
        except IntegrityError as exc:
            if "slug" not in str(exc.orig):
                _raise_unique(exc)
    raise _slug_taken()


def _auto_accept(rules: AutoAcceptIn) -> dict[str, Any]:
    if rules.enabled and rules.max_price is None:
        raise ValidationFailed.on("autoAccept.maxPrice", "required when auto-accept is enabled")
    return {
        "enabled": rules.enabled,
        "maxPrice": format_money(rules.max_price),
        "tokens": list(rules.tokens),
    }


def _sorted_wallets(wallets: dict[str, str]) -> dict[str, str]:
    # By chain id, ascending: the order PostgreSQL's JSONB keeps anyway (shorter keys
    # first), so both databases return the same order.
    return dict(sorted(wallets.items(), key=lambda item: (len(item[0]), item[0])))


def _check_auto_accept_tokens(shop: Shop) -> None:
    outside = [t for t in shop.auto_accept.get("tokens", []) if t not in shop.accepted_tokens]
    if outside:
        raise ValidationFailed.on(
            "autoAccept.tokens", f"not among the shop's accepted tokens: {', '.join(outside)}"
        )


def _apply(shop: Shop, data: ShopFields, tokens: TokenRegistry) -> None:
    """Copy the optional fields present in `data`; JSON values are new objects (see kit/db)."""
    given = data.model_fields_set
    if "description" in given:
        shop.description = data.description
    if "logo_file_id" in given:
        shop.logo_file_id = data.logo_file_id
    if "policies" in given and data.policies is not None:
        shop.policies = data.policies.model_dump(exclude_none=True)
    if "payout_wallets" in given and data.payout_wallets is not None:
        wallets = normalize_payout_wallets(data.payout_wallets, "payoutWallets")
        shop.payout_wallets = _sorted_wallets(wallets)
    if "accepted_tokens" in given and data.accepted_tokens is not None:
        shop.accepted_tokens = tokens.check_symbols(data.accepted_tokens, "acceptedTokens")
    if "auto_accept" in given and data.auto_accept is not None:
        tokens.check_symbols(data.auto_accept.tokens, "autoAccept.tokens")
        shop.auto_accept = _auto_accept(data.auto_accept)
    _check_auto_accept_tokens(shop)


async def create_shop(
    session: AsyncSession, user: User, data: ShopCreate, *, settings: Settings
) -> Shop:
    """Open the caller's shop and make them a seller; 409 SHOP_EXISTS for a second one."""
    tokens = registry(settings)
    # First, under the user's row lock: the role is added to the roles as they are now (an
    # admin may be changing them), and two shop creations of one user run one after the
    # other. A refusal below rolls the role back with the rest.
    await users.grant_role(session, user.id, SELLER_ROLE)
    if await repo.by_owner(session, user.id) is not None:
        raise ShopExists()
    shop = Shop(
        owner_id=user.id,
        name=data.name,
        policies={},
        payout_wallets={},
        accepted_tokens=list(tokens.symbols),
        auto_accept=_auto_accept(AutoAcceptIn()),
    )
    _apply(shop, data, tokens)
    if data.slug is not None:
        if await repo.slug_in_use(session, data.slug):
            raise _slug_taken()
        shop.slug = data.slug
        session.add(shop)
        await _flush(session)
    else:
        base = derive_base(data.name, fallback="shop", reserved=RESERVED_SLUGS)
        await _insert_with_derived_slug(session, shop, base)
    return shop


async def update_shop(
    session: AsyncSession, user: User, data: ShopUpdate, *, settings: Settings
) -> Shop:
    """Change the caller's own shop; 404 SHOP_NOT_FOUND when they have none."""
    shop = await get_own_shop(session, user, lock=True)
    if "slug" in data.model_fields_set and data.slug is not None and data.slug != shop.slug:
        if await repo.slug_in_use(session, data.slug, exclude=shop.id):
            raise _slug_taken()
        shop.slug = data.slug
    if "name" in data.model_fields_set and data.name is not None:
        shop.name = data.name
    _apply(shop, data, registry(settings))
    await _flush(session)
    return shop
