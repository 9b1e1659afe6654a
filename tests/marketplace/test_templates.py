"""Request templates: a seller's catalog, public per shop, ordered by buyers in one step."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import Category, PurchaseRequest, RequestTemplate, Shop

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeCategory, MakeShop
    from tests.fixtures.users import Account, MakeUser

pytest_plugins = ["tests.fixtures.marketplace"]

URL = "/api/marketplace/templates"

LAMP = {
    "title": "Handmade oak lamp",
    "description": "Turned oak, linen shade, EU plug.",
    "price": "25.50",
    "currency": "USDC",
    "network": 8453,
    "deliveryDays": 5,
}


@pytest.fixture
async def flat_categories(db: Database) -> AsyncIterator[None]:
    """Detach sub-categories after the test: SQLite checks the parent's RESTRICT key row by
    row, so emptying the table with children still attached would fail."""
    yield
    async with db.session() as session:
        await session.execute(sa.update(Category).values(parent_id=None))
        await session.commit()


async def create_template(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    r = await client.post(URL, json={**LAMP, **fields}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def test_a_seller_with_a_shop_creates_a_template(
    client: httpx.AsyncClient, seller: Account, make_shop: MakeShop, make_category: MakeCategory
) -> None:
    shop = await make_shop(seller, name="Oak & Linen")
    lamps = await make_category("Lamps")

    r = await client.post(URL, json={**LAMP, "categoryId": lamps.slug}, headers=seller.headers)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["shopId"] == str(shop.id)
    assert data["sellerId"] == str(seller.id)
    assert data["price"] == "25.5"
    assert data["categoryId"] == str(lamps.id)
    assert data["network"] == 8453
    assert data["deliveryDays"] == 5
    assert data["isActive"] is True

    by_name = await create_template(client, seller, network="base", currency="usdt")
    assert (by_name["network"], by_name["currency"]) == (8453, "USDT")


async def test_creating_a_template_needs_a_shop_and_the_seller_role(
    client: httpx.AsyncClient, seller: Account, buyer: Account
) -> None:
    r = await client.post(URL, json=LAMP, headers=seller.headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "SHOP_REQUIRED"
    r = await client.post(URL, json=LAMP, headers=buyer.headers)
    assert r.status_code == 403
    assert (await client.post(URL, json=LAMP)).status_code == 401


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"price": 25.5}, "price"),
        ({"price": "0"}, "price"),
        ({"price": "-1"}, "price"),
        ({"price": "1.0000000000000000001"}, "price"),
        ({"price": "lots"}, "price"),
        ({"title": ""}, "title"),
        ({"deliveryDays": 0}, "deliveryDays"),
        ({"network": "narnia"}, "network"),
        ({"currency": "DOGE"}, "currency"),
        ({"categoryId": "no-such-category"}, "categoryId"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_templates_are_refused(
    client: httpx.AsyncClient,
    seller: Account,
    make_shop: MakeShop,
    fields: dict[str, Any],
    path: str,
) -> None:
    await make_shop(seller, accepted_tokens=["USDC", "USDT"])
    r = await client.post(URL, json={**LAMP, **fields}, headers=seller.headers)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"][0]["path"] == path


async def test_only_the_owner_changes_or_deletes_a_template(
    client: httpx.AsyncClient, seller: Account, make_user: MakeUser, make_shop: MakeShop
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller)
    rival = await make_user(["seller"])
    await make_shop(rival)

    for method in ("PATCH", "DELETE"):
        r = await client.request(
            method, f"{URL}/{template['id']}", json={"price": "1"}, headers=rival.headers
        )
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"
    # Nothing changed.
    current = (await client.get(f"{URL}/{template['id']}")).json()["data"]
    assert current["price"] == "25.5"

    r = await client.patch(
        f"{URL}/{template['id']}",
        json={"price": "30", "title": "Oak lamp, large", "network": None},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()["data"]
    assert (changed["price"], changed["title"], changed["network"]) == (
        "30",
        "Oak lamp, large",
        None,
    )
    assert changed["description"] == LAMP["description"]  # not sent, not changed

    r = await client.patch(f"{URL}/{template['id']}", json={"title": None}, headers=seller.headers)
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["path"] == "title"


async def test_delete_removes_an_unused_template_and_deactivates_an_ordered_one(
    client: httpx.AsyncClient, db: Database, seller: Account, buyer: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller)
    unused = await create_template(client, seller)
    ordered = await create_template(client, seller, title="Walnut lamp")
    async with db.session() as session:
        session.add(
            PurchaseRequest(
                buyer_id=buyer.id, title="Walnut lamp", template_id=uuid.UUID(ordered["id"])
            )
        )
        await session.commit()

    r = await client.delete(f"{URL}/{unused['id']}", headers=seller.headers)
    assert r.json()["data"] == {"id": unused["id"], "result": "deleted"}
    assert (await client.get(f"{URL}/{unused['id']}", headers=seller.headers)).status_code == 404

    r = await client.delete(f"{URL}/{ordered['id']}", headers=seller.headers)
    assert r.json()["data"] == {"id": ordered["id"], "result": "deactivated"}
    kept = await client.get(f"{URL}/{ordered['id']}", headers=seller.headers)
    assert kept.json()["data"]["isActive"] is False
    async with db.session(write=False) as session:
        link = await session.scalar(sa.select(PurchaseRequest.template_id))
    assert str(link) == ordered["id"]


async def test_inactive_templates_are_visible_to_their_owner_only(
    client: httpx.AsyncClient, seller: Account, buyer: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller)
    hidden = await create_template(client, seller, isActive=False)
    shown = await create_template(client, seller, title="Visible lamp")

    assert (await client.get(f"{URL}/{shown['id']}")).json()["data"]["title"] == "Visible lamp"
    assert (await client.get(f"{URL}/{hidden['id']}")).status_code == 404
    assert (await client.get(f"{URL}/{hidden['id']}", headers=buyer.headers)).status_code == 404
    mine = await client.get(f"{URL}/{hidden['id']}", headers=seller.headers)
    assert mine.json()["data"]["isActive"] is False
    assert (await client.get(f"{URL}/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"{URL}/not-a-template")).status_code == 404

    r = await client.get(f"{URL}/mine", headers=seller.headers)
    assert [t["id"] for t in r.json()["data"]["items"]] == [shown["id"], hidden["id"]]
    r = await client.get(f"{URL}/mine", params={"active": "false"}, headers=seller.headers)
    assert [t["id"] for t in r.json()["data"]["items"]] == [hidden["id"]]
    r = await client.get(f"{URL}/mine", headers=buyer.headers)
    assert r.json()["data"]["items"] == []


async def test_public_shop_catalog_by_uuid_slug_or_legacy_id(
    client: httpx.AsyncClient,
    db: Database,
    seller: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
    make_category: MakeCategory,
    flat_categories: None,
) -> None:
    shop = await make_shop(seller, name="Oak & Linen", slug="oak-and-linen")
    legacy = "5f1d7c2e9b1e8a3d4c6f0a12"
    async with db.session() as session:
        await session.execute(
            sa.update(Shop).where(Shop.id == shop.id).values(legacy_object_id=legacy)
        )
        await session.commit()
    lighting = await make_category("Lighting")
    lamps = await make_category("Lamps", parent=lighting)
    desk = await create_template(client, seller, title="Desk lamp", categoryId=str(lamps.id))
    await create_template(client, seller, title="Retired lamp", isActive=False)
    shade = await create_template(client, seller, title="Spare shade")
    other = await make_user(["seller"])
    await make_shop(other)
    await create_template(client, other, title="Someone else's lamp")

    for ref in (str(shop.id), "oak-and-linen", legacy):
        r = await client.get(f"{URL}/shop/{ref}")
        assert r.status_code == 200, ref
        page = r.json()["data"]
        assert [t["title"] for t in page["items"]] == ["Spare shade", "Desk lamp"]
        assert page["pagination"]["total"] == 2

    r = await client.get(f"{URL}/shop/oak-and-linen", params={"categoryId": lighting.slug})
    assert [t["id"] for t in r.json()["data"]["items"]] == [desk["id"]]
    r = await client.get(f"{URL}/shop/oak-and-linen", params={"limit": 1, "page": 2})
    assert [t["id"] for t in r.json()["data"]["items"]] == [desk["id"]]
    assert shade["id"] != desk["id"]

    r = await client.get(f"{URL}/shop/no-such-shop")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "SHOP_NOT_FOUND"


async def test_templates_live_in_the_database_as_sent(
    client: httpx.AsyncClient, db: Database, seller: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller, price="0.000000000000000001")
    async with db.session(write=False) as session:
        row = await session.get_one(RequestTemplate, uuid.UUID(template["id"]))
    assert row.price == Decimal("0.000000000000000001")
    assert template["price"] == "0.000000000000000001"
