"""Categories: the public tree in one cheap request, admin-only writes, tree and slug rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.marketplace.categories.errors import CategoryNotFound
from bazaar.marketplace.categories.seed import seed_categories
from bazaar.marketplace.categories.service import MAX_DEPTH, descendant_ids, get_category
from bazaar.models import Category, PurchaseRequest, RequestTemplate
from tests.fixtures.marketplace import MakeCategory, MakeShop, detach_categories
from tests.fixtures.sql import count_statements
from tests.fixtures.users import Account

URL = "/api/marketplace/categories"


@pytest.fixture(autouse=True)
async def _detach_categories(db: Database) -> AsyncIterator[None]:
    # Tests here also build trees through the API and the seed, not only via make_category.
    yield
    await detach_categories(db)


def names(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["name"] for n in nodes]


async def test_tree_is_nested_and_ordered_by_sort_order_then_name(
    client: httpx.AsyncClient, make_category: MakeCategory
) -> None:
    electronics = await make_category("Electronics", sort_order=1, icon="cpu")
    await make_category("Books", sort_order=2)
    await make_category("art", sort_order=2)  # same order: name decides, case-insensitively
    await make_category("Antiques", sort_order=0)
    laptops = await make_category("Laptops", parent=electronics, sort_order=5)
    await make_category("Phones", parent=electronics, sort_order=1)
    await make_category("Gaming laptops", parent=laptops)

    res = await client.get(URL)

    assert res.status_code == 200
    body = res.json()
    assert body["success"] is True
    tree = body["data"]
    assert names(tree) == ["Antiques", "Electronics", "art", "Books"]
    elec = tree[1]
    assert elec["slug"] == "electronics"
    assert elec["icon"] == "cpu"
    assert elec["parentId"] is None
    assert names(elec["children"]) == ["Phones", "Laptops"]
    assert elec["children"][1]["parentId"] == str(electronics.id)
    assert names(elec["children"][1]["children"]) == ["Gaming laptops"]
    assert elec["children"][1]["children"][0]["children"] == []


async def test_flat_list_puts_parents_before_children_with_depth(
    client: httpx.AsyncClient, make_category: MakeCategory
) -> None:
    home = await make_category("Home", sort_order=2)
    digital = await make_category("Digital goods", sort_order=1)
    await make_category("Software", parent=digital)
    await make_category("Garden", parent=home)

    res = await client.get(URL, params={"flat": "true"})

    assert res.status_code == 200
    flat = res.json()["data"]
    assert [(c["name"], c["depth"]) for c in flat] == [
        ("Digital goods", 0),
        ("Software", 1),
        ("Home", 0),
        ("Garden", 1),
    ]
    assert all("children" not in c for c in flat)
    assert flat[1]["parentId"] == str(digital.id)


async def test_tree_costs_the_same_few_queries_whatever_its_size(
    client: httpx.AsyncClient, db: Database, make_category: MakeCategory
) -> None:
    root = await make_category("Root")
    with count_statements(db) as small:
        res = await client.get(URL)
    assert res.status_code == 200

    for i in range(6):
        parent = await make_category(f"Level1 {i}", parent=root)
        for j in range(4):
            child = await make_category(f"Level2 {i}.{j}", parent=parent)
            await make_category(f"Level3 {i}.{j}", parent=child)
    with count_statements(db) as large:
        res = await client.get(URL)
        flat = await client.get(URL, params={"flat": "true"})

    assert len(res.json()["data"][0]["children"]) == 6
    assert len(flat.json()["data"]) == 1 + 6 + 6 * 4 * 2
    assert 1 <= len(small) <= 2
    assert len(large) == 2 * len(small)  # two requests, each as cheap as on a 1-node tree


async def test_one_category_by_uuid_slug_or_legacy_id(
    client: httpx.AsyncClient, db: Database, make_category: MakeCategory
) -> None:
    electronics = await make_category("Electronics")
    phones = await make_category("Phones", parent=electronics)
    await make_category("Android", parent=phones)
    legacy = "64b7f0c2a1b2c3d4e5f60718"
    async with db.session() as session:
        await session.execute(
            sa.update(Category).where(Category.id == phones.id).values(legacy_object_id=legacy)
        )
        await session.commit()

    for ref in (str(phones.id), "phones", legacy, legacy.upper()):
        res = await client.get(f"{URL}/{ref}")
        assert res.status_code == 200, ref
        data = res.json()["data"]
        assert data["id"] == str(phones.id)
        assert [a["slug"] for a in data["ancestors"]] == ["electronics"]
        assert names(data["children"]) == ["Android"]

    for missing in (str(uuid.uuid4()), "no-such-category", "f" * 24):
        res = await client.get(f"{URL}/{missing}")
        assert res.status_code == 404
        assert res.json()["error"]["code"] == "CATEGORY_NOT_FOUND"


async def test_only_admins_write(
    client: httpx.AsyncClient,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_category: MakeCategory,
) -> None:
    existing = await make_category("Fashion")
    for who in (buyer, seller):
        attempts = [
            client.post(URL, json={"name": "Sneaky"}, headers=who.headers),
            client.patch(f"{URL}/fashion", json={"name": "Hacked"}, headers=who.headers),
            client.put(f"{URL}/fashion", json={"name": "Hacked"}, headers=who.headers),
            client.delete(f"{URL}/fashion", headers=who.headers),
        ]
        for attempt in attempts:
            res = await attempt
            assert res.status_code == 403
            assert res.json()["success"] is False
    res = await client.post(URL, json={"name": "Anonymous"})
    assert res.status_code == 401

    tree = (await client.get(URL)).json()["data"]
    assert [(c["id"], c["name"]) for c in tree] == [(str(existing.id), "Fashion")]

    res = await client.post(URL, json={"name": "Services", "icon": "wrench"}, headers=admin.headers)
    assert res.status_code == 201
    assert res.json()["data"]["slug"] == "services"


async def test_slugs_are_derived_unique_and_well_formed(
    client: httpx.AsyncClient, admin: Account
) -> None:
    first = await client.post(URL, json={"name": "Home & Garden"}, headers=admin.headers)
    assert first.status_code == 201
    assert first.json()["data"]["slug"] == "home-garden"

    # The same name under another parent is fine: the derived slug gets a suffix.
    again = await client.post(URL, json={"name": "Home & Garden"}, headers=admin.headers)
    assert again.status_code == 201
    assert again.json()["data"]["slug"] == "home-garden-2"

    accented = await client.post(URL, json={"name": "Électronique"}, headers=admin.headers)
    assert accented.json()["data"]["slug"] == "electronique"

    taken = await client.post(
        URL, json={"name": "Garden", "slug": "home-garden"}, headers=admin.headers
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "SLUG_TAKEN"

    for bad in ("Home Garden", "home--garden", "-home", "home_garden", str(uuid.uuid4())):
        res = await client.post(URL, json={"name": "X", "slug": bad}, headers=admin.headers)
        assert res.status_code == 400, bad
        err = res.json()["error"]
        assert err["code"] == "VALIDATION_FAILED"
        assert err["details"][0]["path"] == "slug"

    rename = await client.patch(
        f"{URL}/home-garden-2", json={"slug": "home-garden"}, headers=admin.headers
    )
    assert rename.status_code == 409
    assert rename.json()["error"]["code"] == "SLUG_TAKEN"

    slugs = sorted(c["slug"] for c in (await client.get(URL)).json()["data"])
    assert slugs == ["electronique", "home-garden", "home-garden-2"]


async def test_update_changes_only_given_fields_and_moves_between_parents(
    client: httpx.AsyncClient, admin: Account, make_category: MakeCategory
) -> None:
    electronics = await make_category("Electronics")
    audio = await make_category("Audio", icon="headphones", sort_order=3)

    res = await client.put(
        f"{URL}/audio",
        json={"name": "Audio & Hi-Fi", "parentId": "electronics"},
        headers=admin.headers,
    )
    assert res.status_code == 200
    data = res.json()["data"]
    assert (data["name"], data["slug"], data["icon"], data["sortOrder"]) == (
        "Audio & Hi-Fi",
        "audio",
        "headphones",
        3,
    )
    assert data["parentId"] == str(electronics.id)
    assert [a["name"] for a in data["ancestors"]] == ["Electronics"]

    res = await client.patch(
        f"{URL}/{audio.id}", json={"parentId": None, "icon": None}, headers=admin.headers
    )
    assert res.status_code == 200
    assert res.json()["data"]["parentId"] is None
    assert res.json()["data"]["icon"] is None
    assert names((await client.get(URL)).json()["data"]) == ["Electronics", "Audio & Hi-Fi"]

    missing = await client.patch(
        f"{URL}/audio", json={"parentId": str(uuid.uuid4())}, headers=admin.headers
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][0]["path"] == "parentId"


async def test_a_category_cannot_become_its_own_ancestor(
    client: httpx.AsyncClient, admin: Account, make_category: MakeCategory
) -> None:
    a = await make_category("A")
    b = await make_category("B", parent=a)
    c = await make_category("C", parent=b)
    before = (await client.get(URL)).json()["data"]

    for new_parent in (c, b, a):
        res = await client.patch(
            f"{URL}/{a.id}", json={"parentId": str(new_parent.id)}, headers=admin.headers
        )
        assert res.status_code == 409
        assert res.json()["error"]["code"] == "CATEGORY_CYCLE"

    assert (await client.get(URL)).json()["data"] == before
    # Moving a leaf up is not a cycle.
    res = await client.patch(f"{URL}/{c.id}", json={"parentId": str(a.id)}, headers=admin.headers)
    assert res.status_code == 200


async def test_nesting_depth_is_bounded(
    client: httpx.AsyncClient, admin: Account, make_category: MakeCategory
) -> None:
    parent = None
    for level in range(MAX_DEPTH):
        parent = await make_category(f"Level {level}", parent=parent)
    assert parent is not None

    res = await client.post(
        URL, json={"name": "Too deep", "parentId": str(parent.id)}, headers=admin.headers
    )
    assert res.status_code == 400
    assert res.json()["error"]["details"][0]["path"] == "parentId"


async def test_category_in_use_cannot_be_deleted(
    client: httpx.AsyncClient,
    db: Database,
    admin: Account,
    buyer: Account,
    seller: Account,
    make_category: MakeCategory,
    make_shop: MakeShop,
) -> None:
    phones = await make_category("Phones")
    parent = await make_category("Electronics")
    await make_category("Laptops", parent=parent)
    templated = await make_category("Gift cards")
    unused = await make_category("Collectibles")
    shop = await make_shop(seller)
    async with db.session() as session:
        session.add(PurchaseRequest(buyer_id=buyer.id, title="Pixel 9", category_id=phones.id))
        session.add(
            RequestTemplate(
                shop_id=shop.id,
                seller_id=seller.id,
                title="$50 card",
                price=Decimal("50"),
                category_id=templated.id,
            )
        )
        await session.commit()
    before = (await client.get(URL, params={"flat": "true"})).json()["data"]

    expected = {
        "phones": {"children": 0, "purchaseRequests": 1, "requestTemplates": 0},
        "electronics": {"children": 1, "purchaseRequests": 0, "requestTemplates": 0},
        "gift-cards": {"children": 0, "purchaseRequests": 0, "requestTemplates": 1},
    }
    for slug, details in expected.items():
        res = await client.delete(f"{URL}/{slug}", headers=admin.headers)
        assert res.status_code == 409, slug
        assert res.json()["error"]["code"] == "CATEGORY_IN_USE"
        assert res.json()["error"]["details"] == details
    assert (await client.get(URL, params={"flat": "true"})).json()["data"] == before

    res = await client.delete(f"{URL}/{unused.id}", headers=admin.headers)
    assert res.status_code == 200
    assert res.json()["data"] == {"id": str(unused.id), "deleted": True}
    assert (await client.get(f"{URL}/collectibles")).status_code == 404
    assert (await client.delete(f"{URL}/collectibles", headers=admin.headers)).status_code == 404


async def test_service_helpers_for_other_domains(db: Database, make_category: MakeCategory) -> None:
    electronics = await make_category("Electronics")
    phones = await make_category("Phones", parent=electronics)
    android = await make_category("Android", parent=phones)
    laptops = await make_category("Laptops", parent=electronics)
    await make_category("Fashion")

    async with db.session(False) as session:
        everything = await descendant_ids(session, electronics.id)
        leaf = await descendant_ids(session, android.id)
        missing = await descendant_ids(session, uuid.uuid4())
        by_slug = await get_category(session, "phones")
        with pytest.raises(CategoryNotFound):
            await get_category(session, str(uuid.uuid4()))

    assert everything[0] == electronics.id
    assert set(everything) == {electronics.id, phones.id, android.id, laptops.id}
    assert len(everything) == 4
    assert leaf == [android.id]
    assert missing == []
    assert by_slug.id == phones.id


async def test_seed_builds_the_default_tree_once(client: httpx.AsyncClient, db: Database) -> None:
    async with db.session() as session:
        created = await seed_categories(session)
        await session.commit()
    async with db.session() as session:
        again = await seed_categories(session)
        await session.commit()

    assert created > 0
    assert again == 0
    tree = (await client.get(URL)).json()["data"]
    by_slug = {c["slug"]: c for c in tree}
    assert names(by_slug["electronics"]["children"]) == ["Phones", "Laptops", "Audio"]
    assert names(by_slug["digital-goods"]["children"]) == ["Software", "Gift cards"]
    flat = (await client.get(URL, params={"flat": "true"})).json()["data"]
    assert len(flat) == created


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 121},
        {"name": "Ok", "sortOrder": "first"},
        {"name": "Ok", "sortOrder": 10**12},
        {"name": "Ok", "parentId": "not a ref"},
        {"name": "Ok", "colour": "red"},
        {"name": ["a"]},
        {"name": "Ok", "slug": 5},
        [],
        "name",
    ],
)
async def test_bad_input_is_a_400_envelope(
    client: httpx.AsyncClient, admin: Account, body: Any
) -> None:
    res = await client.post(URL, json=body, headers=admin.headers)
    assert res.status_code == 400
    assert res.json()["success"] is False
    assert res.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_malformed_updates_are_refused(
    client: httpx.AsyncClient, admin: Account, make_category: MakeCategory
) -> None:
    await make_category("Fashion")
    for body in ({"name": None}, {"slug": None}, {"sortOrder": None}, {"parentId": 7}):
        res = await client.patch(f"{URL}/fashion", json=body, headers=admin.headers)
        assert res.status_code == 400, body
    res = await client.patch(
        f"{URL}/fashion",
        content=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert res.status_code == 400
    assert (await client.get(f"{URL}/fashion")).json()["data"]["name"] == "Fashion"
