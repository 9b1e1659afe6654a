"""Request templates: a seller's catalog, public per shop, ordered by buyers in one step."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.models import (
    Address,
    Job,
    PurchaseRequest,
    RequestHistory,
    RequestTemplate,
    SellerOffer,
    Shop,
    User,
)
from tests.marketplace.lineup import Lineup

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeCategory, MakeShop
    from tests.fixtures.users import Account, MakeUser


URL = "/api/marketplace/templates"

LAMP = {
    "title": "Handmade oak lamp",
    "description": "Turned oak, linen shade, EU plug.",
    "price": "25.50",
    "currency": "USDC",
    "network": 8453,
    "deliveryDays": 5,
}


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
        ({"title": "nul \u0000 byte"}, "title"),
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
        json={"price": "30", "title": "Oak lamp, large", "network": "polygon"},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()["data"]
    assert (changed["price"], changed["title"], changed["network"]) == (
        "30",
        "Oak lamp, large",
        137,
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
    async with db.session(False) as session:
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
    template = await create_template(client, seller, price="0.000000000000000001", currency="DAI")
    async with db.session(False) as session:
        row = await session.get_one(RequestTemplate, uuid.UUID(template["id"]))
    assert row.price == Decimal("0.000000000000000001")
    assert template["price"] == "0.000000000000000001"


# -- ordering from a template ----------------------------------------------------------------


async def stored_counts(db: Database) -> dict[str, int]:
    async with db.session(False) as session:
        counts = {}
        for model in (PurchaseRequest, RequestHistory, SellerOffer, Job):
            total = await session.scalar(sa.select(sa.func.count()).select_from(model))
            counts[model.__tablename__] = int(total or 0)
    return counts


async def add_address(db: Database, owner: Account, city: str = "Lisbon") -> str:
    async with db.session() as session:
        address = Address(
            user_id=owner.id, full_name="Bea Buyer", line1="Rua 1", city=city, country="PT"
        )
        session.add(address)
        await session.commit()
    return str(address.id)


async def test_ordering_makes_an_open_request_for_the_shop_with_its_offer(
    client: httpx.AsyncClient, seller: Account, buyer: Account, make_shop: MakeShop
) -> None:
    shop = await make_shop(seller, name="Oak & Linen")
    template = await create_template(client, seller)

    r = await client.post(
        f"{URL}/{template['id']}/instantiate",
        json={"quantity": 2, "isDigital": True, "message": "Gift wrap, please"},
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    request, offer = r.json()["data"]["request"], r.json()["data"]["offer"]
    assert request["status"] == "open"
    assert request["buyerId"] == str(buyer.id)
    assert request["targetShopId"] == str(shop.id)
    assert request["templateId"] == template["id"]
    assert request["title"] == LAMP["title"]
    # The buyer's note is the shop's to read, not part of the public description.
    assert request["description"] == LAMP["description"]
    assert request["buyerNote"] == "Gift wrap, please"
    assert (request["quantity"], request["budgetMin"], request["budgetMax"]) == (2, "51", "51")
    assert request["expiresAt"] is not None

    assert offer["requestId"] == request["id"]
    assert (offer["sellerId"], offer["shopId"]) == (str(seller.id), str(shop.id))
    assert (offer["price"], offer["currency"], offer["network"]) == ("51", "USDC", 8453)
    assert offer["deliveryDays"] == 5
    assert offer["status"] == "pending"
    assert offer["fromTemplate"] is True
    assert [o["id"] for o in request["offers"]] == [offer["id"]]

    # The buyer can accept the automatic offer like any other: a payment is due.
    accepted = await client.post(
        f"/api/marketplace/offers/{offer['id']}/accept",
        json={"version": offer["version"]},
        headers=buyer.headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["requestStatus"] == "accepted"
    assert accepted.json()["data"]["payment"]["amount"] == "51"

    # An ordered template is kept (deactivated) when its seller deletes it.
    gone = await client.delete(f"{URL}/{template['id']}", headers=seller.headers)
    assert gone.json()["data"]["result"] == "deactivated"


async def test_only_the_templates_shop_may_offer_on_its_request(
    client: httpx.AsyncClient,
    seller: Account,
    buyer: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller)
    r = await client.post(
        f"{URL}/{template['id']}/instantiate", json={"isDigital": True}, headers=buyer.headers
    )
    request_id = r.json()["data"]["request"]["id"]

    rival = await make_user(["seller"])
    await make_shop(rival)
    undercut = await client.post(
        "/api/marketplace/offers",
        json={"requestId": request_id, "price": "20", "network": 8453},
        headers=rival.headers,
    )
    assert undercut.status_code == 403
    assert undercut.json()["error"]["code"] == "REQUEST_TARGETS_ANOTHER_SHOP"
    # The shop's own offer is its one live offer: a second one is refused.
    second = await client.post(
        "/api/marketplace/offers",
        json={"requestId": request_id, "price": "20", "network": 8453},
        headers=seller.headers,
    )
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "OFFER_EXISTS"


async def test_who_may_order_from_a_template(
    client: httpx.AsyncClient,
    db: Database,
    seller: Account,
    buyer: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller)
    hidden = await create_template(client, seller, isActive=False)
    order = {"isDigital": True}

    # A seller who also buys still cannot order from their own shop.
    async with db.session() as session:
        await session.execute(
            sa.update(User).where(User.id == seller.id).values(roles=["buyer", "seller"])
        )
        await session.commit()
    own = await client.post(
        f"{URL}/{template['id']}/instantiate", json=order, headers=seller.headers
    )
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "CANNOT_INSTANTIATE_OWN_TEMPLATE"
    for ref in (hidden["id"], str(uuid.uuid4()), "nope"):
        r = await client.post(f"{URL}/{ref}/instantiate", json=order, headers=buyer.headers)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"
    anonymous = await client.post(f"{URL}/{template['id']}/instantiate", json=order)
    assert anonymous.status_code == 401
    assert (await stored_counts(db))["purchase_requests"] == 0

    # Ordering creates a request: the buyer role, as for POST /requests. A seller without
    # it, or an account an admin left with the seller role only, orders nothing.
    other_seller = await make_user(["seller"])
    r = await client.post(
        f"{URL}/{template['id']}/instantiate", json=order, headers=other_seller.headers
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await stored_counts(db))["purchase_requests"] == 0
    r = await client.post(f"{URL}/{template['id']}/instantiate", json=order, headers=buyer.headers)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["request"]["buyerId"] == str(buyer.id)


async def test_delivery_address_or_digital(
    client: httpx.AsyncClient,
    db: Database,
    seller: Account,
    buyer: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller)
    url = f"{URL}/{template['id']}/instantiate"
    mine = await add_address(db, buyer, city="Porto")
    theirs = await add_address(db, await make_user(["buyer"]))

    r = await client.post(url, json={"deliveryAddressId": mine}, headers=buyer.headers)
    assert r.status_code == 201, r.text
    request = r.json()["data"]["request"]
    assert request["isDigital"] is False
    assert request["deliveryAddress"]["city"] == "Porto"

    before = await stored_counts(db)
    r = await client.post(url, json={"deliveryAddressId": theirs}, headers=buyer.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ADDRESS_NOT_FOUND"
    r = await client.post(url, json={}, headers=buyer.headers)
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["path"] == "deliveryAddressId"
    for bad in ({"quantity": 0, "isDigital": True}, {"message": "x" * 2001, "isDigital": True}):
        r = await client.post(url, json=bad, headers=buyer.headers)
        assert r.status_code == 400
    assert await stored_counts(db) == before


async def test_a_failed_order_leaves_nothing_behind(
    client: httpx.AsyncClient, db: Database, seller: Account, buyer: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller)
    template = await create_template(client, seller)
    before = await stored_counts(db)

    # The shop owner lost the seller role after listing the template: the request is
    # written, then the offer is refused, and the whole order must roll back.
    async with db.session() as session:
        await session.execute(sa.update(User).where(User.id == seller.id).values(roles=["buyer"]))
        await session.commit()
    r = await client.post(
        f"{URL}/{template['id']}/instantiate", json={"isDigital": True}, headers=buyer.headers
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "TEMPLATE_UNAVAILABLE"
    assert await stored_counts(db) == before

    # A banned seller's templates cannot be ordered either.
    async with db.session() as session:
        await session.execute(
            sa.update(User).where(User.id == seller.id).values(roles=["seller"], banned_at=utcnow())
        )
        await session.commit()
    r = await client.post(
        f"{URL}/{template['id']}/instantiate", json={"isDigital": True}, headers=buyer.headers
    )
    assert r.json()["error"]["code"] == "TEMPLATE_UNAVAILABLE"
    assert await stored_counts(db) == before


async def test_ordering_a_template_while_it_is_deleted(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    make_shop: MakeShop,
) -> None:
    """The order and the delete lined up after their reads: the order's request then
    pointed at a template deleted under it, a 409 CONFLICT from the foreign key (4 in 20 on
    PostgreSQL without the lineup). Now either the delete sees the order (deactivates) or
    the order sees the delete (404), as on SQLite."""
    await make_shop(seller)

    def order_or_delete(sql: str) -> bool:
        return sql.startswith(("INSERT INTO purchase_requests", "DELETE FROM request_templates"))

    for _ in range(3):
        template = await create_template(client, seller)
        url = f"{URL}/{template['id']}"
        async with Lineup(db, 2, at=order_or_delete):
            order, deleted = await asyncio.gather(
                client.post(f"{url}/instantiate", json={"isDigital": True}, headers=buyer.headers),
                client.delete(url, headers=seller.headers),
            )
        assert deleted.status_code == 200, deleted.text
        if deleted.json()["data"]["result"] == "deleted":
            assert order.status_code == 404, order.text
            assert order.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"
        else:
            assert order.status_code == 201, order.text
