"""Address book: CRUD, exactly one default, owner isolation, the 50-address cap."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import Address
from bazaar.users.address_service import MAX_ADDRESSES
from tests.fixtures.users import Account, MakeUser


def address(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": "Home",
        "fullName": "Ada Lovelace",
        "line1": "12 Analytical Row",
        "city": "London",
        "postalCode": "N1 9GU",
        "country": "gb",
        "phone": "+44 20 7946 0000",
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, user: Account, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/address", headers=user.headers, json=address(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def listing(client: httpx.AsyncClient, user: Account) -> list[dict[str, Any]]:
    response = await client.get("/api/address", headers=user.headers)
    assert response.status_code == 200
    return response.json()["data"]["items"]  # type: ignore[no-any-return]


async def test_crud_round_trip(client: httpx.AsyncClient, buyer: Account) -> None:
    created = await create(client, buyer, line2="  ", region=None)
    assert created["country"] == "GB"
    assert created["line2"] is None
    assert created["isDefault"] is True  # the first address is the default

    got = await client.get(f"/api/address/{created['id']}", headers=buyer.headers)
    assert got.json()["data"] == created

    updated = await client.put(
        f"/api/address/{created['id']}",
        headers=buyer.headers,
        json={"city": "Cambridge", "phone": None},
    )
    assert updated.status_code == 200, updated.text
    patched = await client.patch(
        f"/api/address/{created['id']}", headers=buyer.headers, json={"label": "Work"}
    )
    assert patched.status_code == 200, patched.text
    data = (await client.get(f"/api/address/{created['id']}", headers=buyer.headers)).json()
    assert data["data"]["city"] == "Cambridge"
    assert data["data"]["phone"] is None
    assert data["data"]["label"] == "Work"
    assert data["data"]["fullName"] == "Ada Lovelace"  # untouched by either update

    deleted = await client.delete(f"/api/address/{created['id']}", headers=buyer.headers)
    assert deleted.status_code == 200
    assert deleted.json()["data"] == {
        "id": created["id"],
        "deleted": True,
        "defaultAddressId": None,
    }
    missing = await client.get(f"/api/address/{created['id']}", headers=buyer.headers)
    assert missing.status_code == 404
    assert await listing(client, buyer) == []


async def test_list_is_paginated_default_first(client: httpx.AsyncClient, buyer: Account) -> None:
    first = await create(client, buyer, label="first")
    await create(client, buyer, label="second")
    third = await create(client, buyer, label="third")
    response = await client.get("/api/address?page=1&limit=2", headers=buyer.headers)
    page = response.json()["data"]
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}
    assert [a["id"] for a in page["items"]] == [first["id"], third["id"]]
    bad = await client.get("/api/address?limit=500", headers=buyer.headers)
    assert bad.status_code == 400


async def test_setting_a_default_unsets_the_previous(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    home = await create(client, buyer, label="home")
    work = await create(client, buyer, label="work")
    assert work["isDefault"] is False

    response = await client.post(f"/api/address/{work['id']}/default", headers=buyer.headers)
    assert response.status_code == 200
    assert response.json()["data"]["isDefault"] is True
    defaults = {a["label"]: a["isDefault"] for a in await listing(client, buyer)}
    assert defaults == {"home": False, "work": True}

    # Creating with isDefault moves it again; updating with isDefault too.
    shop = await create(client, buyer, label="shop", isDefault=True)
    assert shop["isDefault"] is True
    await client.patch(
        f"/api/address/{home['id']}", headers=buyer.headers, json={"isDefault": True}
    )
    defaults = {a["label"]: a["isDefault"] for a in await listing(client, buyer)}
    assert defaults == {"home": True, "work": False, "shop": False}


async def test_the_default_cannot_be_switched_off_directly(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    home = await create(client, buyer)
    response = await client.patch(
        f"/api/address/{home['id']}", headers=buyer.headers, json={"isDefault": False}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "DEFAULT_ADDRESS_REQUIRED"
    assert (await listing(client, buyer))[0]["isDefault"] is True


async def test_deleting_the_default_promotes_the_newest(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    home = await create(client, buyer, label="home")
    await create(client, buyer, label="older")
    newest = await create(client, buyer, label="newest")

    response = await client.delete(f"/api/address/{home['id']}", headers=buyer.headers)
    assert response.json()["data"]["defaultAddressId"] == newest["id"]
    defaults = {a["label"]: a["isDefault"] for a in await listing(client, buyer)}
    assert defaults == {"older": False, "newest": True}

    # Deleting a non-default address leaves the default alone.
    older = next(a for a in await listing(client, buyer) if a["label"] == "older")
    response = await client.delete(f"/api/address/{older['id']}", headers=buyer.headers)
    assert response.json()["data"]["defaultAddressId"] == newest["id"]


async def test_other_users_address_is_404_and_unchanged(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, intruder = await make_user(), await make_user()
    mine = await create(client, owner)
    await create(client, intruder)  # the intruder has a default of their own
    url = f"/api/address/{mine['id']}"
    attempts = [
        ("GET", url, None),
        ("PUT", url, {"city": "Elsewhere"}),
        ("PATCH", url, {"fullName": "Mallory"}),
        ("DELETE", url, None),
        ("POST", f"{url}/default", None),
    ]
    for method, target, body in attempts:
        response = await client.request(method, target, headers=intruder.headers, json=body)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"

    assert (await client.get(url, headers=owner.headers)).json()["data"] == mine
    assert all(a["id"] != mine["id"] for a in await listing(client, intruder))


async def test_legacy_id_lookup(client: httpx.AsyncClient, buyer: Account, db: Database) -> None:
    created = await create(client, buyer)
    legacy = "5f1e2d3c4b5a697887766554"
    async with db.session() as session:
        await session.execute(
            sa.update(Address)
            .where(Address.id == uuid.UUID(created["id"]))
            .values(legacy_object_id=legacy)
        )
        await session.commit()
    response = await client.get(f"/api/address/{legacy}", headers=buyer.headers)
    assert response.json()["data"]["id"] == created["id"]
    for ref in ("nonsense", str(uuid.uuid4())):
        assert (await client.get(f"/api/address/{ref}", headers=buyer.headers)).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"country": "ZZ"}, "country"),
        ({"country": "GBR"}, "country"),
        ({"fullName": "   "}, "fullName"),
        ({"line1": None}, "line1"),
        ({"city": "c" * 101}, "city"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"postalCode": "<script>"}, "postalCode"),
        ({"isDefault": "yes"}, "isDefault"),
        ({"userId": str(uuid.uuid4())}, "userId"),
    ],
)
async def test_invalid_address_is_refused(
    client: httpx.AsyncClient, buyer: Account, overrides: dict[str, Any], path: str
) -> None:
    response = await client.post("/api/address", headers=buyer.headers, json=address(**overrides))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert any(d["path"] == path for d in error["details"]), error["details"]
    assert await listing(client, buyer) == []


async def test_update_refuses_null_for_required_fields(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    created = await create(client, buyer)
    response = await client.patch(
        f"/api/address/{created['id']}", headers=buyer.headers, json={"country": None}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "country"


async def test_at_most_fifty_addresses(
    client: httpx.AsyncClient, buyer: Account, db: Database
) -> None:
    async with db.session() as session:
        session.add_all(
            Address(
                user_id=buyer.id,
                full_name="Ada",
                line1=f"{n} Row",
                city="London",
                country="GB",
                is_default=n == 0,
            )
            for n in range(MAX_ADDRESSES)
        )
        await session.commit()
    response = await client.post("/api/address", headers=buyer.headers, json=address())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ADDRESS_LIMIT_REACHED"
    total = (await client.get("/api/address", headers=buyer.headers)).json()["data"]
    assert total["pagination"]["total"] == MAX_ADDRESSES


async def test_addresses_require_sign_in(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/address")).status_code == 401
    assert (await client.post("/api/address", json=address())).status_code == 401


async def test_concurrent_changes_keep_exactly_one_default(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    created = await asyncio.gather(
        *(
            client.post("/api/address", headers=buyer.headers, json=address(label=f"a{n}"))
            for n in range(6)
        )
    )
    assert [r.status_code for r in created] == [201] * 6
    assert sum(a["isDefault"] for a in await listing(client, buyer)) == 1

    ids = [r.json()["data"]["id"] for r in created]
    switched = await asyncio.gather(
        *(client.post(f"/api/address/{i}/default", headers=buyer.headers) for i in ids)
    )
    assert [r.status_code for r in switched] == [200] * 6
    assert sum(a["isDefault"] for a in await listing(client, buyer)) == 1
