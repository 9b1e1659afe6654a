"""Shop settings: one shop per user, seller role on creation, lookups, payout wallet checks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import Shop, User
from tests.fixtures.marketplace import MakeShop
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.lineup import Lineup

URL = "/api/marketplace/shop-settings"

# A real EIP-55 address (from the EIP's test vectors) and a one-letter-case typo of it.
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BAD_CHECKSUM = "0x5aaEb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


async def create(client: httpx.AsyncClient, who: Account, **body: Any) -> httpx.Response:
    return await client.post(URL, json={"name": "Sam's Phones", **body}, headers=who.headers)


def error(res: httpx.Response) -> tuple[int, str, list[str]]:
    """(status, error code, the `path` of every detail)."""
    err = res.json()["error"]
    details = err.get("details")
    paths = [d["path"] for d in details] if isinstance(details, list) else []
    return res.status_code, err["code"], paths


async def test_creating_a_shop_makes_the_user_a_seller(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    assert (await client.get(f"{URL}/me", headers=buyer.headers)).status_code == 404

    res = await create(
        client,
        buyer,
        description="Refurbished phones, tested",
        policies={"returns": "14 days", "shipping": "Ships in 2 days"},
        payoutWallets={"8453": CHECKSUMMED},
    )

    assert res.status_code == 201
    shop = res.json()["data"]
    assert shop["name"] == "Sam's Phones"
    assert shop["slug"] == "sam-s-phones"
    assert shop["ownerId"] == str(buyer.id)
    assert shop["policies"] == {
        "returns": "14 days",
        "shipping": "Ships in 2 days",
        "warranty": None,
    }
    assert shop["payoutWallets"] == {"8453": CHECKSUMMED}
    assert shop["acceptedTokens"] == ["USDC", "USDT", "DAI", "PYUSD", "EURC"]
    assert shop["autoAccept"] == {"enabled": False, "maxPrice": None, "tokens": []}

    # The same access token now carries the seller role server-side.
    profile = await client.get("/api/user/profile", headers=buyer.headers)
    assert profile.status_code == 200
    assert sorted(profile.json()["data"]["roles"]) == ["buyer", "seller"]
    async with db.session(False) as session:
        user = await session.get_one(User, buyer.id)
        assert user.roles == ["buyer", "seller"]

    mine = await client.get(f"{URL}/me", headers=buyer.headers)
    assert mine.status_code == 200
    assert mine.json()["data"] == shop


async def test_one_shop_per_user(client: httpx.AsyncClient, db: Database, seller: Account) -> None:
    assert (await create(client, seller)).status_code == 201
    res = await create(client, seller, name="Second shop")
    assert error(res)[:2] == (409, "SHOP_EXISTS")

    async with db.session(False) as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(Shop))).scalar()
        user = await session.get_one(User, seller.id)
    assert count == 1
    assert user.roles == ["seller"]  # not appended twice


async def test_concurrent_creates_leave_one_shop(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    results = await asyncio.gather(*(create(client, buyer, name=f"Shop {i}") for i in range(4)))

    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"SHOP_EXISTS"}
    async with db.session(False) as session:
        shops = (await session.execute(sa.select(Shop))).scalars().all()
    assert len(shops) == 1


async def test_shops_named_alike_at_once_all_get_a_derived_slug(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    """8 shops called "Same Name N" at once, lined up after reading the free slug: on
    PostgreSQL they all picked `same-name-n` and 7 answered 409 SLUG_TAKEN (6×201, 2×409
    without the lineup) about a slug the clients never sent."""
    users = [await make_user() for _ in range(8)]
    parties = min(len(users), db.settings.db_write_pool_size)
    async with Lineup(db, parties, at=lambda sql: sql.startswith("INSERT INTO shops")):
        results = await asyncio.gather(*(create(client, u, name="Same Name N") for u in users))
    assert [r.status_code for r in results] == [201] * 8, [r.text for r in results]
    slugs = sorted(r.json()["data"]["slug"] for r in results)
    assert slugs == sorted(["same-name-n", *(f"same-name-n-{n}" for n in range(2, 9))])


async def test_an_admin_role_change_during_shop_creation_is_kept(
    client: httpx.AsyncClient, db: Database, admin: Account, make_user: MakeUser
) -> None:
    """The admin sets [buyer, resolver] while the user opens a shop, both lined up after
    their reads: shop creation added `seller` to the roles it had read before, and the
    user ended [buyer, seller] (1 in 12 on PostgreSQL without the lineup)."""

    def writes_roles_or_shop(sql: str) -> bool:
        return sql.startswith(("UPDATE users", "INSERT INTO shops"))

    for round_ in range(3):
        user = await make_user(["buyer"])
        async with Lineup(db, 2, at=writes_roles_or_shop):
            shop, roles = await asyncio.gather(
                create(client, user, name=f"Race shop {round_}"),
                client.put(
                    f"/api/admin/users/{user.id}/roles",
                    json={"roles": ["buyer", "resolver"]},
                    headers=admin.headers,
                ),
            )
        assert (shop.status_code, roles.status_code) == (201, 200), (shop.text, roles.text)
        async with db.session(False) as session:
            final = (await session.get_one(User, user.id)).roles
        # Either order is a correct history: the shop's grant after the admin's change
        # ([buyer, resolver, seller]) or the admin's replacement after it ([buyer, resolver]).
        assert final in (["buyer", "resolver", "seller"], ["buyer", "resolver"]), final


async def test_payout_wallets_come_back_ordered_by_chain_id(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    """PostgreSQL's JSONB sorts object keys, SQLite keeps them as sent: both answer in
    chain-id order."""
    wallets = {"8453": CHECKSUMMED, "1": OTHER, "42161": CHECKSUMMED, "137": OTHER, "10": OTHER}
    res = await create(client, buyer, payoutWallets=wallets)
    assert res.status_code == 201, res.text
    expected = ["1", "10", "137", "8453", "42161"]
    assert list(res.json()["data"]["payoutWallets"]) == expected
    mine = await client.get(f"{URL}/me", headers=buyer.headers)
    assert list(mine.json()["data"]["payoutWallets"]) == expected
    res = await client.patch(
        URL, json={"payoutWallets": {"base": OTHER, "1": OTHER}}, headers=buyer.headers
    )
    assert list(res.json()["data"]["payoutWallets"]) == ["1", "8453"]


async def test_slugs_are_unique(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    assert (await create(client, seller, slug="phones")).status_code == 201

    res = await create(client, buyer, slug="phones")
    assert error(res)[:2] == (409, "SLUG_TAKEN")

    derived = await create(client, buyer)  # same name as the first shop: suffixed
    assert derived.status_code == 201
    assert derived.json()["data"]["slug"] == "sam-s-phones"
    third = await create(client, await make_user())
    assert third.json()["data"]["slug"] == "sam-s-phones-2"

    other = await make_user()
    for bad in ("Phones!", "me", "64b7f0c2a1b2c3d4e5f60718", "a" * 121):
        res = await create(client, other, slug=bad)
        assert error(res) == (400, "VALIDATION_FAILED", ["slug"]), bad

    res = await client.patch(URL, json={"slug": "phones"}, headers=buyer.headers)
    assert error(res)[:2] == (409, "SLUG_TAKEN")


async def test_public_lookup_by_uuid_slug_or_legacy_id(
    client: httpx.AsyncClient, db: Database, seller: Account, make_shop: MakeShop
) -> None:
    shop = await make_shop(
        seller,
        name="Vintage Cameras",
        payout_wallets={"1": CHECKSUMMED},
        auto_accept={"enabled": True, "max_price": "300"},
    )
    legacy = "64b7f0c2a1b2c3d4e5f60718"
    async with db.session() as session:
        await session.execute(
            sa.update(Shop).where(Shop.id == shop.id).values(legacy_object_id=legacy)
        )
        await session.commit()

    for ref in (str(shop.id), "vintage-cameras", legacy, legacy.upper()):
        res = await client.get(f"{URL}/{ref}")  # no token: public
        assert res.status_code == 200, ref
        data = res.json()["data"]
        assert data["id"] == str(shop.id)
        assert data["name"] == "Vintage Cameras"
        # Private settings stay private.
        assert "payoutWallets" not in data
        assert "autoAccept" not in data

    for missing in (str(uuid.uuid4()), "no-such-shop", "a" * 24, "%20"):
        res = await client.get(f"{URL}/{missing}")
        assert error(res)[:2] == (404, "SHOP_NOT_FOUND"), missing


async def test_update_own_shop_with_put_patch_and_put_me(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller, name="Sam's Audio", description="Headphones")
    other = await make_shop(buyer, name="Bea's Books")

    res = await client.put(URL, json={"name": "Sam's Hi-Fi"}, headers=seller.headers)
    assert res.status_code == 200
    data = res.json()["data"]
    assert (data["name"], data["slug"], data["description"]) == (
        "Sam's Hi-Fi",
        "sam-s-audio",
        "Headphones",
    )

    res = await client.patch(
        URL,
        json={"description": None, "acceptedTokens": ["usdc", "DAI", "usdc"]},
        headers=seller.headers,
    )
    assert res.status_code == 200
    assert res.json()["data"]["description"] is None
    assert res.json()["data"]["acceptedTokens"] == ["USDC", "DAI"]

    res = await client.put(
        f"{URL}/me",
        json={
            "slug": "sams-hifi",
            "policies": {"warranty": "1 year"},
            "autoAccept": {"enabled": True, "maxPrice": "250.50", "tokens": ["DAI"]},
        },
        headers=seller.headers,
    )
    assert res.status_code == 200
    data = res.json()["data"]
    assert data["slug"] == "sams-hifi"
    assert data["policies"] == {"returns": None, "shipping": None, "warranty": "1 year"}
    assert data["autoAccept"] == {"enabled": True, "maxPrice": "250.5", "tokens": ["DAI"]}

    res = await client.patch(f"{URL}/me", json={"name": "Renamed"}, headers=seller.headers)
    assert res.status_code == 200
    assert (await client.get(f"{URL}/sams-hifi")).json()["data"]["name"] == "Renamed"
    # The other seller's shop is untouched by all of this.
    untouched = (await client.get(f"{URL}/{other.id}")).json()["data"]
    assert untouched["name"] == "Bea's Books"


async def test_updating_without_a_shop_is_404(client: httpx.AsyncClient, buyer: Account) -> None:
    for method, path in (("PUT", URL), ("PATCH", URL), ("PUT", f"{URL}/me")):
        res = await client.request(method, path, json={"name": "X"}, headers=buyer.headers)
        assert error(res)[:2] == (404, "SHOP_NOT_FOUND")
    assert (await client.put(URL, json={"name": "X"})).status_code == 401


async def test_payout_addresses_are_checked_and_checksummed(
    client: httpx.AsyncClient, seller: Account
) -> None:
    res = await create(
        client,
        seller,
        payoutWallets={
            "1": CHECKSUMMED,
            "base": OTHER.lower(),  # a network name is stored under its chain id
            "137": "0x" + OTHER[2:].upper(),
        },
    )
    assert res.status_code == 201
    assert res.json()["data"]["payoutWallets"] == {"1": CHECKSUMMED, "8453": OTHER, "137": OTHER}

    cases: list[tuple[dict[str, Any], str]] = [
        ({"8453": BAD_CHECKSUM}, "payoutWallets.8453"),
        ({"10": CHECKSUMMED[:-1]}, "payoutWallets.10"),
        ({"10": "0x" + "g" * 40}, "payoutWallets.10"),
        ({"10": CHECKSUMMED[2:]}, "payoutWallets.10"),
        ({"10": "0x" + "0" * 40}, "payoutWallets.10"),
        ({"999999": CHECKSUMMED}, "payoutWallets.999999"),
        ({"dogechain": CHECKSUMMED}, "payoutWallets.dogechain"),
        ({"1": CHECKSUMMED, "ethereum": OTHER}, "payoutWallets.ethereum"),
        ({"42161": 12345}, "payoutWallets.42161"),
    ]
    for wallets, path in cases:
        res = await client.patch(URL, json={"payoutWallets": wallets}, headers=seller.headers)
        assert error(res) == (400, "VALIDATION_FAILED", [path]), wallets

    mine = (await client.get(f"{URL}/me", headers=seller.headers)).json()["data"]
    assert mine["payoutWallets"] == {"1": CHECKSUMMED, "8453": OTHER, "137": OTHER}

    res = await client.patch(URL, json={"payoutWallets": {}}, headers=seller.headers)
    assert res.json()["data"]["payoutWallets"] == {}


async def test_token_and_auto_accept_rules(client: httpx.AsyncClient, seller: Account) -> None:
    res = await create(client, seller, acceptedTokens=["USDC", "BTC"])
    assert error(res) == (400, "VALIDATION_FAILED", ["acceptedTokens.1"])
    res = await create(client, seller, acceptedTokens=[])
    assert error(res)[:2] == (400, "VALIDATION_FAILED")

    assert (await create(client, seller, acceptedTokens=["USDC", "USDT"])).status_code == 201

    cases: list[tuple[dict[str, Any], str]] = [
        ({"autoAccept": {"enabled": True, "maxPrice": 99.99}}, "autoAccept.maxPrice"),
        ({"autoAccept": {"enabled": True, "maxPrice": "-1"}}, "autoAccept.maxPrice"),
        ({"autoAccept": {"enabled": True, "maxPrice": "lots"}}, "autoAccept.maxPrice"),
        ({"autoAccept": {"enabled": True}}, "autoAccept.maxPrice"),
        (
            {"autoAccept": {"enabled": True, "maxPrice": "5", "tokens": ["DAI"]}},
            "autoAccept.tokens",
        ),
        ({"autoAccept": {"enabled": "maybe"}}, "autoAccept.enabled"),
        ({"autoAccept": {"enabled": True, "maxPrice": "5", "when": "always"}}, "autoAccept.when"),
        ({"policies": {"refunds": "never"}}, "policies.refunds"),
        ({"logoFileId": "logo.png"}, "logoFileId"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"payoutWallets": None}, "payoutWallets"),
        ({"owner_id": str(uuid.uuid4())}, "owner_id"),
    ]
    for body, path in cases:
        res = await client.patch(URL, json=body, headers=seller.headers)
        assert error(res) == (400, "VALIDATION_FAILED", [path]), body

    # Narrowing accepted tokens below what auto-accept uses is refused as well.
    res = await client.patch(
        URL,
        json={"autoAccept": {"enabled": True, "maxPrice": "1000", "tokens": ["USDT"]}},
        headers=seller.headers,
    )
    assert res.status_code == 200
    res = await client.patch(URL, json={"acceptedTokens": ["USDC"]}, headers=seller.headers)
    assert error(res) == (400, "VALIDATION_FAILED", ["autoAccept.tokens"])
    mine = (await client.get(f"{URL}/me", headers=seller.headers)).json()["data"]
    assert mine["acceptedTokens"] == ["USDC", "USDT"]
    assert mine["autoAccept"] == {"enabled": True, "maxPrice": "1000", "tokens": ["USDT"]}


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "shop",
        {"name": 5},
        {"name": "x" * 121},
        {"name": "Ok", "payoutWallets": []},
        {"name": "Ok", "acceptedTokens": "USDC"},
        {"name": "Ok", "description": "x" * 5001},
    ],
)
async def test_bad_create_input_is_a_400_envelope(
    client: httpx.AsyncClient, db: Database, buyer: Account, body: Any
) -> None:
    res = await client.post(URL, json=body, headers=buyer.headers)
    assert res.status_code == 400
    assert res.json()["success"] is False
    async with db.session(False) as session:
        user = await session.get_one(User, buyer.id)
    assert user.roles == ["buyer"]  # no shop, no role


async def test_make_shop_fixture_grants_seller(
    db: Database, buyer: Account, make_shop: MakeShop
) -> None:
    shop = await make_shop(buyer, payout_wallets={"base": CHECKSUMMED.lower()})
    assert shop.payout_wallets == {"8453": CHECKSUMMED}
    assert "seller" in buyer.roles
    async with db.session(False) as session:
        assert "seller" in (await session.get_one(User, buyer.id)).roles
