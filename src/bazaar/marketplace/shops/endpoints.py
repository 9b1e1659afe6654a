"""`/api/marketplace/shop-settings`: your shop's settings, and public shop lookup."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope
from bazaar.marketplace.auth import SignedIn
from bazaar.marketplace.shops import service
from bazaar.marketplace.shops.errors import ShopExists, ShopNotFound, SlugTaken
from bazaar.marketplace.shops.schemas import ShopCreate, ShopOut, ShopPublic, ShopUpdate

router = APIRouter()


@router.get("/me", response_model=Envelope[ShopOut], responses=errors(ShopNotFound))
@router.get(
    "",
    response_model=Envelope[ShopOut],
    summary="Get my shop (same as /me)",
    responses=errors(ShopNotFound),
)
@router.get("/", include_in_schema=False)
async def get_my_shop(user: SignedIn, session: ReadSession) -> Envelope[ShopOut]:
    """Your own shop with its private settings (payout wallets, auto-accept rules).

    404 `SHOP_NOT_FOUND` when you have not created one yet.
    """
    shop = await service.get_own_shop(session, user)
    return Envelope(data=ShopOut.model_validate(shop))


@router.post(
    "", response_model=Envelope[ShopOut], status_code=201, responses=errors(ShopExists, SlugTaken)
)
@router.post("/", include_in_schema=False, status_code=201)
async def create_shop(
    body: ShopCreate, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[ShopOut]:
    """Open your shop; you get the `seller` role right away (same access token).

    One shop per account: 409 `SHOP_EXISTS` for a second one; 409 `SLUG_TAKEN` when the
    slug is used. The slug is derived from the name when omitted. Payout wallet keys are
    EVM chain ids (`"1"`, `"10"`, `"137"`, `"8453"`, `"42161"`, `"11155111"`, ...) or
    network names (`"base"`); addresses must pass the EIP-55 checksum when mixed-case and
    are returned checksummed, ordered by chain id. `acceptedTokens` are symbols from the
    token registry and default to all of them.
    """
    shop = await service.create_shop(session, user, body, settings=settings)
    return Envelope(data=ShopOut.model_validate(shop))


@router.put("", response_model=Envelope[ShopOut], responses=errors(ShopNotFound, SlugTaken))
@router.patch("", response_model=Envelope[ShopOut], responses=errors(ShopNotFound, SlugTaken))
@router.put("/me", response_model=Envelope[ShopOut], responses=errors(ShopNotFound, SlugTaken))
@router.patch("/me", response_model=Envelope[ShopOut], responses=errors(ShopNotFound, SlugTaken))
@router.put("/", include_in_schema=False)
@router.patch("/", include_in_schema=False)
async def update_shop(
    body: ShopUpdate, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[ShopOut]:
    """Change your shop: only the fields present in the body change (PUT and PATCH alike).

    `policies`, `payoutWallets`, `acceptedTokens` and `autoAccept` are replaced as a whole
    when given; `autoAccept.tokens` must be among `acceptedTokens`. 404 `SHOP_NOT_FOUND`
    when you have no shop; 409 `SLUG_TAKEN` when the new slug is used.
    """
    shop = await service.update_shop(session, user, body, settings=settings)
    return Envelope(data=ShopOut.model_validate(shop))


@router.get("/{ref}", response_model=Envelope[ShopPublic], responses=errors(ShopNotFound))
async def get_shop(ref: str, session: ReadSession) -> Envelope[ShopPublic]:
    """A shop's public profile by UUID, slug or 24-hex legacy id."""
    shop = await service.get_shop(session, ref)
    return Envelope(data=ShopPublic.model_validate(shop))
