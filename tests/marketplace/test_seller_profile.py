"""A seller's public profile shows their shop, buyers' average rating and completed deals."""

from __future__ import annotations

import httpx

from bazaar.kit.db import Database
from tests.fixtures.marketplace import MakeShop
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_reviews import make_deal, post_review


async def test_public_profile_of_a_seller_has_shop_rating_and_deals(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    make_shop: MakeShop,
    seller: Account,
) -> None:
    await make_shop(seller, name="Lamp Works")
    buyers = [await make_user(["buyer"]) for _ in range(2)]
    for who, rating in zip(buyers, (5, 4), strict=True):
        deal = await make_deal(db, who.id, seller.id)
        assert (await post_review(client, who, deal, rating)).status_code == 201
    # A review the seller wrote about a buyer does not count towards the seller's rating.
    assert (await post_review(client, seller, deal, 1)).status_code == 201

    r = await client.get(f"/api/user/{seller.id}/public")
    assert r.status_code == 200, r.text
    profile = r.json()["data"]
    assert profile["shop"]["name"] == "Lamp Works"
    assert "payoutWallets" not in profile["shop"]
    assert profile["rating"] == {"average": "4.50", "count": 2}
    assert profile["completedDeals"] == 2
    assert "seller" in profile["roles"]


async def test_public_profile_of_a_plain_buyer_has_no_seller_block(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    r = await client.get(f"/api/users/{buyer.id}/public")
    assert r.status_code == 200
    assert "rating" not in r.json()["data"]
    assert "shop" not in r.json()["data"]
