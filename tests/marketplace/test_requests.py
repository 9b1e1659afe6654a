"""Purchase requests over HTTP: create, validate, see (or not), edit and publish."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import Address, PurchaseRequest
from tests.fixtures.files import Upload
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    REQUESTS,
    accepted_deal,
    history_of,
    iso,
    notified,
    post_offer,
    post_request,
    request_body,
    update_rows,
)

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeCategory


async def make_address(db: Database, owner: Account, city: str = "Lisbon") -> Address:
    async with db.session() as session:
        address = Address(
            user_id=owner.id,
            full_name="Bea Buyer",
            line1="Rua Augusta 10",
            city=city,
            postal_code="1100-053",
            country="PT",
            phone="+351 21 000 0000",
        )
        session.add(address)
        await session.commit()
        return address


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    return body["error"]  # type: ignore[no-any-return]


async def test_draft_keeps_its_fields_and_has_no_deadline_yet(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    make_category: MakeCategory,
    upload_file: Upload,
) -> None:
    phones = await make_category("Phones")
    attachment = await upload_file(buyer, "attachment")
    data = await post_request(
        client,
        buyer,
        publish=False,
        categoryId=phones.slug,
        quantity=2,
        budgetMin="0.000000000000000001",
        budgetMax="123456789012345678.5",
        currency="dai",
        attachments=[attachment],
    )
    assert data["status"] == "draft"
    assert data["buyerId"] == str(buyer.id)
    assert data["categoryId"] == str(phones.id)
    assert (data["quantity"], data["currency"]) == (2, "DAI")
    assert (data["budgetMin"], data["budgetMax"]) == (
        "0.000000000000000001",
        "123456789012345678.5",
    )
    assert data["attachments"] == [attachment]
    assert data["isDigital"] is True and data["shipsTo"] is None
    assert data["expiresAt"] is None and data["publishedAt"] is None
    assert data["offerCount"] == 0 and data["offers"] == []
    [entry] = data["history"]
    assert (entry["fromStatus"], entry["toStatus"], entry["actorRole"]) == (None, "draft", "buyer")
    assert entry["actorName"] == "Bea Buyer"


async def test_publish_opens_the_draft_and_sets_its_deadline(
    client: httpx.AsyncClient, settings: Settings, buyer: Account
) -> None:
    draft = await post_request(client, buyer, publish=False)
    r = await client.post(f"{REQUESTS}/{draft['id']}/publish", headers=buyer.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "open"
    published = iso(data["publishedAt"])
    assert iso(data["expiresAt"]) - published == settings.request_default_ttl
    assert [h["toStatus"] for h in data["history"]] == ["draft", "open"]

    again = await client.post(f"{REQUESTS}/{draft['id']}/publish", headers=buyer.headers)
    assert again.status_code == 409
    assert error(again)["code"] == "INVALID_STATE_TRANSITION"


async def test_a_chosen_deadline_survives_publication(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    deadline = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    draft = await post_request(client, buyer, publish=False, expiresAt=deadline.isoformat())
    assert iso(draft["expiresAt"]) == deadline
    r = await client.post(f"{REQUESTS}/{draft['id']}/publish", headers=buyer.headers)
    assert iso(r.json()["data"]["expiresAt"]) == deadline


async def test_only_buyers_create_requests(client: httpx.AsyncClient, seller: Account) -> None:
    anonymous = await client.post(REQUESTS, json=request_body())
    assert anonymous.status_code == 401
    as_seller = await client.post(REQUESTS, json=request_body(), headers=seller.headers)
    assert as_seller.status_code == 403
    assert error(as_seller)["code"] == "ROLE_REQUIRED"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"title": "ab"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"quantity": 0}, "quantity"),
        ({"budgetMin": 12.5}, "budgetMin"),
        ({"budgetMin": "12.5.1"}, "budgetMin"),
        ({"budgetMin": "-1"}, "budgetMin"),
        ({"budgetMin": "0.0000000000000000001"}, "budgetMin"),
        ({"budgetMin": "200", "budgetMax": "100"}, "budgetMax"),
        ({"currency": "US DC"}, "currency"),
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"attachments": ["a"] * 11}, "attachments"),
        ({"attachments": ["../etc/passwd"]}, "attachments.0"),
        ({"categoryId": "no-such-category"}, "categoryId"),
        ({"isDigital": None}, "deliveryAddressId"),
        ({"title": "Nul \u0000 byte"}, "title"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, buyer: Account, overrides: dict[str, Any], path: str
) -> None:
    r = await client.post(REQUESTS, json=request_body(**overrides), headers=buyer.headers)
    assert r.status_code == 400, r.text
    assert error(r)["code"] == "VALIDATION_FAILED"
    assert path in [d["path"] for d in error(r)["details"]]


async def test_text_postgres_cannot_store_is_a_400(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    # A lone surrogate is valid JSON escaping but not storable text (httpx cannot send it
    # unescaped, so the body is written by hand).
    raw = b'{"title": "Camera", "description": "lone \\ud800 surrogate", "isDigital": true}'
    headers = {**buyer.headers, "Content-Type": "application/json"}
    r = await client.post(REQUESTS, content=raw, headers=headers)
    assert r.status_code == 400, r.text
    assert error(r)["details"][0]["path"] == "description"


async def test_deadline_is_at_most_90_days_ahead(client: httpx.AsyncClient, buyer: Account) -> None:
    too_far = (utcnow() + timedelta(days=91)).isoformat()
    r = await client.post(REQUESTS, json=request_body(expiresAt=too_far), headers=buyer.headers)
    assert r.status_code == 400
    assert error(r)["details"][0]["path"] == "expiresAt"
    ok = (utcnow() + timedelta(days=89)).isoformat()
    r = await client.post(REQUESTS, json=request_body(expiresAt=ok), headers=buyer.headers)
    assert r.status_code == 201


async def test_delivery_address_is_a_private_snapshot(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    address = await make_address(db, buyer)
    data = await post_request(client, buyer, isDigital=None, deliveryAddressId=str(address.id))
    assert data["isDigital"] is False
    assert data["deliveryAddress"]["line1"] == "Rua Augusta 10"
    assert data["deliveryAddress"]["addressId"] == str(address.id)
    # Editing the address book later does not move the request's address.
    await update_rows(db, Address, address.id, line1="Somewhere else 1")
    mine = (await client.get(f"{REQUESTS}/{data['id']}", headers=buyer.headers)).json()["data"]
    assert mine["deliveryAddress"]["line1"] == "Rua Augusta 10"
    # Sellers and the public see only where it goes, not the street.
    public = (await client.get(f"{REQUESTS}/{data['id']}", headers=seller.headers)).json()["data"]
    assert public["deliveryAddress"] is None
    assert public["shipsTo"] == {"city": "Lisbon", "country": "PT"}


async def test_someone_elses_address_is_404(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    other = await make_user(["buyer"])
    theirs = await make_address(db, other)
    body = request_body(isDigital=None, deliveryAddressId=str(theirs.id))
    r = await client.post(REQUESTS, json=body, headers=buyer.headers)
    assert r.status_code == 404
    assert error(r)["code"] == "ADDRESS_NOT_FOUND"
    both = request_body(deliveryAddressId=str(theirs.id))
    assert (await client.post(REQUESTS, json=both, headers=buyer.headers)).status_code == 400


async def test_who_sees_a_draft_an_open_and_an_accepted_request(
    client: httpx.AsyncClient, buyer: Account, seller: Account, admin: Account, make_user: MakeUser
) -> None:
    other_seller = await make_user(["seller"])
    draft = await post_request(client, buyer, publish=False)
    opened = await post_request(client, buyer)
    accepted, _ = await accepted_deal(client, buyer, seller)

    def url(data: dict[str, Any]) -> str:
        return f"{REQUESTS}/{data['id']}"

    expected = {
        # request: (buyer, offering seller, admin, other seller, anonymous)
        "draft": (draft, (200, 404, 404, 404, 404)),
        "open": (opened, (200, 200, 200, 200, 200)),
        "accepted": (accepted, (200, 200, 200, 404, 404)),
    }
    viewers = [buyer.headers, seller.headers, admin.headers, other_seller.headers, {}]
    for name, (data, codes) in expected.items():
        got = tuple([(await client.get(url(data), headers=h)).status_code for h in viewers])
        assert got == codes, name


async def test_detail_offers_per_viewer(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    rival = await make_user(["seller"])
    request = await post_request(client, buyer)
    mine = await post_offer(client, seller, request["id"])
    await post_offer(client, rival, request["id"], price="80")
    url = f"{REQUESTS}/{request['id']}"
    as_buyer = (await client.get(url, headers=buyer.headers)).json()["data"]
    assert len(as_buyer["offers"]) == 2 and as_buyer["offerCount"] == 2
    as_seller = (await client.get(url, headers=seller.headers)).json()["data"]
    assert [o["id"] for o in as_seller["offers"]] == [mine["id"]]
    assert as_seller["offerCount"] == 2
    anonymous = (await client.get(url)).json()["data"]
    assert anonymous["offers"] is None and anonymous["offerCount"] == 2


async def test_legacy_id_finds_the_request(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    data = await post_request(client, buyer)
    legacy = "65a1b2c3d4e5f6a7b8c9d0e1"
    await update_rows(db, PurchaseRequest, data["id"], legacy_object_id=legacy)
    r = await client.get(f"{REQUESTS}/{legacy.upper()}")
    assert r.status_code == 200 and r.json()["data"]["id"] == data["id"]
    for ref in ("not-an-id", "65a1b2c3d4e5f6a7b8c9d0e2", str(uuid.uuid4())):
        assert (await client.get(f"{REQUESTS}/{ref}")).status_code == 404


async def test_buyer_edits_a_draft_and_an_open_request(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    await post_offer(client, seller, request["id"])
    url = f"{REQUESTS}/{request['id']}"
    r = await client.patch(url, json={"budgetMax": "900", "budgetMin": None}, headers=buyer.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["budgetMin"], data["budgetMax"], data["termsVersion"]) == (None, "900", 1)
    # The seller with a pending offer hears about it.
    [note] = await notified(db, seller, "request.updated")
    assert note["requestId"] == request["id"]
    r = await client.patch(url, json={"title": "Leica M6"}, headers=buyer.headers)
    assert (r.json()["data"]["title"], r.json()["data"]["termsVersion"]) == ("Leica M6", 2)
    [note] = await notified(db, seller, "request.terms_changed")
    assert (note["requestId"], note["termsVersion"]) == (request["id"], 2)

    bad = await client.patch(url, json={"budgetMin": "1000"}, headers=buyer.headers)
    assert bad.status_code == 400
    assert (await client.patch(url, json={"title": None}, headers=buyer.headers)).status_code == 400


async def test_edit_is_for_the_buyer_only(
    client: httpx.AsyncClient, buyer: Account, seller: Account, admin: Account
) -> None:
    request = await post_request(client, buyer)
    draft = await post_request(client, buyer, publish=False)
    body = {"title": "Changed by someone else"}
    url = f"{REQUESTS}/{request['id']}"
    assert (await client.patch(url, json=body, headers=seller.headers)).status_code == 403
    assert (await client.patch(url, json=body, headers=admin.headers)).status_code == 403
    assert (await client.patch(url, json=body)).status_code == 401
    draft_url = f"{REQUESTS}/{draft['id']}"
    assert (await client.patch(draft_url, json=body, headers=seller.headers)).status_code == 404


async def test_an_accepted_request_cannot_be_edited(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request, _ = await accepted_deal(client, buyer, seller)
    r = await client.patch(
        f"{REQUESTS}/{request['id']}", json={"title": "Too late"}, headers=buyer.headers
    )
    assert r.status_code == 409
    assert error(r)["code"] == "REQUEST_NOT_EDITABLE"


async def test_switching_delivery_between_address_and_digital(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    address = await make_address(db, buyer, city="Porto")
    request = await post_request(client, buyer)
    url = f"{REQUESTS}/{request['id']}"
    off = await client.patch(url, json={"isDigital": False}, headers=buyer.headers)
    assert off.status_code == 400  # needs an address
    physical = await client.patch(
        url, json={"deliveryAddressId": str(address.id)}, headers=buyer.headers
    )
    assert physical.json()["data"]["shipsTo"] == {"city": "Porto", "country": "PT"}
    assert physical.json()["data"]["isDigital"] is False
    digital = await client.patch(url, json={"isDigital": True}, headers=buyer.headers)
    assert digital.json()["data"]["deliveryAddress"] is None
    assert digital.json()["data"]["isDigital"] is True


async def test_publish_is_for_the_buyer_only(
    client: httpx.AsyncClient, db: Database, buyer: Account, admin: Account
) -> None:
    draft = await post_request(client, buyer, publish=False)
    url = f"{REQUESTS}/{draft['id']}/publish"
    assert (await client.post(url, headers=admin.headers)).status_code == 404
    assert (await client.post(url)).status_code == 401
    assert [h.to_status for h in await history_of(db, draft["id"])] == ["draft"]
