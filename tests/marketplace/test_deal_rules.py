"""The rules the escrow trusts (issue 9): what an offer answers, who is a party, who sees
the deal and the address, and the moves nobody may force.

Each test reproduces a finding of the issue through the API, as the attacker did.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from bazaar.kit.db import Database, UTCDateTime, utcnow
from bazaar.kit.migrations import alembic_config, upgrade
from bazaar.marketplace.requests import service as requests
from bazaar.marketplace.requests.search import search_clause
from bazaar.models import (
    Job,
    PurchaseRequest,
    RequestTemplate,
    Shop,
    User,
)
from tests.conftest import PG_ADMIN_URL, _pg_exec, base_settings
from tests.marketplace.lineup import Lineup
from tests.marketplace.test_requests_support import (
    OFFERS,
    REQUESTS,
    accept,
    fund,
    get_offer,
    get_request,
    notified,
    payments_of,
    post_offer,
    post_request,
    update_rows,
)

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeCategory, MakeShop
    from tests.fixtures.users import Account, MakeUser

TEMPLATES = "/api/marketplace/templates"


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def patch_request(
    client: httpx.AsyncClient, who: Account, request_id: str, **body: Any
) -> httpx.Response:
    return await client.patch(f"{REQUESTS}/{request_id}", json=body, headers=who.headers)


async def confirm(
    client: httpx.AsyncClient, who: Account, offer_id: str, terms_version: int
) -> httpx.Response:
    return await client.post(
        f"{OFFERS}/{offer_id}/confirm", json={"termsVersion": terms_version}, headers=who.headers
    )


async def read(client: httpx.AsyncClient, who: Account | None, request_id: str) -> dict[str, Any]:
    headers = who.headers if who is not None else {}
    r = await client.get(f"{REQUESTS}/{request_id}", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def order_template(
    client: httpx.AsyncClient, seller: Account, buyer: Account, price: str, **order: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    template = await client.post(
        TEMPLATES,
        json={"title": "Oak desk lamp", "price": price, "network": 8453},
        headers=seller.headers,
    )
    assert template.status_code == 201, template.text
    r = await client.post(
        f"{TEMPLATES}/{template.json()['data']['id']}/instantiate",
        json={"isDigital": True, **order},
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    return data["request"], data["offer"]


async def set_roles(client: httpx.AsyncClient, admin: Account, who: Account, *roles: str) -> None:
    r = await client.put(
        f"/api/admin/users/{who.id}/roles", json={"roles": list(roles)}, headers=admin.headers
    )
    assert r.status_code == 200, r.text


async def add_address(client: httpx.AsyncClient, who: Account) -> str:
    body = {
        "fullName": "Bea Buyer",
        "line1": "7 Rua das Flores",
        "city": "Porto",
        "country": "PT",
        "phone": "+351912345678",
    }
    r = await client.post("/api/address", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


# -- 1. an offer answers one version of the request's terms -----------------------------------


async def test_a_terms_change_outdates_offers_until_their_seller_confirms(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    """The issue's case: 1 item at 5, then quantity 10,000 and accept at the old price."""
    request = await post_request(client, buyer, quantity=1)
    assert request["termsVersion"] == 1
    offer = await post_offer(client, seller, request["id"], price="5")
    assert offer["termsVersion"] == 1

    edited = await patch_request(client, buyer, request["id"], quantity=10_000)
    assert edited.json()["data"]["termsVersion"] == 2
    [told] = await notified(db, seller, "request.terms_changed")
    assert (told["requestId"], told["termsVersion"]) == (request["id"], 2)

    # Even naming the offer version the buyer saw: the offer answers quantity 1.
    r = await accept(client, buyer, offer["id"], version=1)
    assert r.status_code == 409 and code(r) == "OFFER_TERMS_OUTDATED", r.text
    assert r.json()["error"]["details"] == {"offerTermsVersion": 1, "requestTermsVersion": 2}
    assert await payments_of(db, request["id"]) == []
    assert (await get_request(db, request["id"])).status == "open"

    # The seller confirms the terms they reviewed; the price and the offer version stay.
    stale = await confirm(client, seller, offer["id"], 1)
    assert stale.status_code == 409 and code(stale) == "REQUEST_TERMS_CHANGED"
    assert stale.json()["error"]["details"] == {"currentTermsVersion": 2}
    r = await confirm(client, seller, offer["id"], 2)
    assert r.status_code == 200, r.text
    confirmed = r.json()["data"]
    assert (confirmed["termsVersion"], confirmed["version"], confirmed["price"]) == (2, 1, "5")
    [told] = await notified(db, buyer, "offer.confirmed")
    assert (told["offerId"], told["termsVersion"]) == (offer["id"], 2)
    # Confirming again changes nothing and tells nobody.
    assert (await confirm(client, seller, offer["id"], 2)).status_code == 200
    assert len(await notified(db, buyer, "offer.confirmed")) == 1

    r = await accept(client, buyer, offer["id"], version=1)
    assert r.status_code == 200, r.text
    assert (await get_request(db, request["id"])).quantity == 10_000


@pytest.mark.parametrize(
    ("change", "bumps"),
    [
        ({"quantity": 2}, True),
        ({"currency": "DAI"}, True),
        ({"title": "Another camera entirely"}, True),
        ({"description": "Now with a broken lens"}, True),
        ({"categoryId": "CATEGORY"}, True),
        ({"isDigital": False, "deliveryAddressId": "ADDRESS"}, True),
        ({"budgetMin": "10", "budgetMax": "900"}, False),
        ({"expiresAt": "SOON"}, False),
        ({"title": "Vintage film camera", "quantity": 1}, False),  # the same values
    ],
    ids=lambda v: ",".join(v) if isinstance(v, dict) else str(v),
)
async def test_what_is_bought_changes_the_terms_and_the_buyers_limits_do_not(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    make_category: MakeCategory,
    change: dict[str, Any],
    bumps: bool,
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    body = dict(change)
    if body.get("categoryId") == "CATEGORY":
        body["categoryId"] = str((await make_category("Cameras")).id)
    if body.get("deliveryAddressId") == "ADDRESS":
        body["deliveryAddressId"] = await add_address(client, buyer)
    if body.get("expiresAt") == "SOON":
        body["expiresAt"] = (utcnow() + timedelta(days=3)).isoformat()
    r = await patch_request(client, buyer, request["id"], **body)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["termsVersion"] == (2 if bumps else 1)
    answer = await accept(client, buyer, offer["id"])
    assert answer.status_code == (409 if bumps else 200), answer.text
    told = "request.terms_changed" if bumps else "request.updated"
    assert len(await notified(db, seller, told)) == 1


async def test_a_delivery_address_change_changes_the_terms(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    home = await add_address(client, buyer)
    request = await post_request(client, buyer, isDigital=False, deliveryAddressId=home)
    offer = await post_offer(client, seller, request["id"])
    same = await patch_request(client, buyer, request["id"], deliveryAddressId=home)
    assert same.json()["data"]["termsVersion"] == 1  # the same address again
    elsewhere = await client.post(
        "/api/address",
        json={"fullName": "Bea Buyer", "line1": "1 Ocean Rd", "city": "Faro", "country": "PT"},
        headers=buyer.headers,
    )
    moved = await patch_request(
        client, buyer, request["id"], deliveryAddressId=elsewhere.json()["data"]["id"]
    )
    assert moved.json()["data"]["termsVersion"] == 2
    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 409 and code(r) == "OFFER_TERMS_OUTDATED"


async def test_an_offer_made_after_a_change_answers_the_new_terms(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    await patch_request(client, buyer, request["id"], quantity=3)
    await patch_request(client, buyer, request["id"], currency="DAI")
    offer = await post_offer(client, seller, request["id"], price="30")
    assert offer["termsVersion"] == 3
    assert (await accept(client, buyer, offer["id"])).status_code == 200


async def test_a_template_offer_follows_the_same_rule(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    make_shop: MakeShop,
) -> None:
    """The issue's case: a 100 USDC template for 1 item, then quantity 500."""
    await make_shop(seller)
    request, offer = await order_template(client, seller, buyer, "100")
    assert (offer["fromTemplate"], offer["termsVersion"]) == (True, 1)
    await patch_request(client, buyer, request["id"], quantity=500)

    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 409 and code(r) == "OFFER_TERMS_OUTDATED"
    assert await payments_of(db, request["id"]) == []
    assert len(await notified(db, seller, "request.terms_changed")) == 1
    # The shop prices the new quantity, then confirms; the buyer accepts that version.
    edited = await client.patch(
        f"{OFFERS}/{offer['id']}", json={"price": "50000"}, headers=seller.headers
    )
    assert edited.json()["data"]["version"] == 2
    assert (await confirm(client, seller, offer["id"], 2)).status_code == 200
    r = await accept(client, buyer, offer["id"], version=2)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["payment"]["amount"] == "50000"


async def test_who_may_confirm_an_offer_and_when(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_user: MakeUser,
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    await patch_request(client, buyer, request["id"], quantity=2)
    stranger = await make_user(["seller"])
    assert (await confirm(client, buyer, offer["id"], 2)).status_code == 403
    assert (await confirm(client, admin, offer["id"], 2)).status_code == 403
    assert code(await confirm(client, stranger, offer["id"], 2)) == "OFFER_NOT_FOUND"
    anonymous = await client.post(f"{OFFERS}/{offer['id']}/confirm", json={"termsVersion": 2})
    assert anonymous.status_code == 401
    missing = await client.post(f"{OFFERS}/{offer['id']}/confirm", json={}, headers=seller.headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][0]["path"] == "termsVersion"
    assert (await get_offer(db, offer["id"])).terms_version == 1

    await client.post(f"{OFFERS}/{offer['id']}/withdraw", headers=seller.headers)
    gone = await confirm(client, seller, offer["id"], 2)
    assert gone.status_code == 409 and code(gone) == "OFFER_NOT_PENDING"

    lapsed = await post_request(client, buyer)
    late = await post_offer(client, seller, lapsed["id"])
    await patch_request(client, buyer, lapsed["id"], quantity=2)
    await update_rows(db, PurchaseRequest, lapsed["id"], expires_at=utcnow() - timedelta(seconds=1))
    r = await confirm(client, seller, late["id"], 2)
    assert r.status_code == 409 and code(r) == "REQUEST_NOT_OPEN"


async def test_a_terms_edit_and_an_accept_at_once_never_both_win(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    """Both lock the request row first: the accept either locks the old terms (the edit is
    then refused) or sees the new ones (and refuses the offer)."""

    def writes_the_request(sql: str) -> bool:
        return sql.startswith("UPDATE purchase_requests")

    for _ in range(3):
        request = await post_request(client, buyer, quantity=1)
        offer = await post_offer(client, seller, request["id"], price="5")
        async with Lineup(db, 2, at=writes_the_request):
            edit, accepted = await asyncio.gather(
                patch_request(client, buyer, request["id"], quantity=500),
                accept(client, buyer, offer["id"]),
            )
        row = await get_request(db, request["id"])
        if accepted.status_code == 200:
            assert edit.status_code == 409 and code(edit) == "REQUEST_NOT_EDITABLE", edit.text
            assert (row.status, row.quantity, row.terms_version) == ("accepted", 1, 1)
        else:
            assert code(accepted) == "OFFER_TERMS_OUTDATED", accepted.text
            assert edit.status_code == 200, edit.text
            assert (row.status, row.quantity) == ("open", 500)
            assert await payments_of(db, request["id"]) == []


# -- 2. the accepted price is the parties' ----------------------------------------------------


async def test_losing_sellers_do_not_see_the_winning_offer_or_price(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_user: MakeUser,
) -> None:
    rival = await make_user(["seller"])
    request = await post_request(client, buyer)
    lost = await post_offer(client, rival, request["id"], price="120")
    won = await post_offer(client, seller, request["id"], price="99.50")
    assert (await accept(client, buyer, won["id"])).status_code == 200

    as_rival = await read(client, rival, request["id"])
    assert (as_rival["lockedPrice"], as_rival["acceptedOfferId"]) == (None, None)
    assert [(o["id"], o["status"]) for o in as_rival["offers"]] == [(lost["id"], "superseded")]
    listed = await client.get(OFFERS, params={"requestId": request["id"]}, headers=rival.headers)
    assert [o["id"] for o in listed.json()["data"]["items"]] == [lost["id"]]
    r = await client.get(f"{OFFERS}/{won['id']}", headers=rival.headers)
    assert r.status_code == 404

    for party in (buyer, seller, admin):
        seen = await read(client, party, request["id"])
        assert (seen["lockedPrice"], seen["acceptedOfferId"]) == ("99.5", won["id"])
    mine = await client.get(REQUESTS, params={"mine": "true"}, headers=buyer.headers)
    [item] = mine.json()["data"]["items"]
    assert item["lockedPrice"] == "99.5"

    # The request's realtime room (which sellers who offered may join) names no offer.
    async with db.session(False) as session:
        stmt = sa.select(Job.payload).where(Job.kind == "realtime.emit")
        events = [p for p in (await session.execute(stmt)).scalars()]
    room = [e for e in events if e["room"] == f"request:{request['id']}"]
    assert room and all("offerId" not in e["data"] for e in room)
    assert won["id"] not in str(room)


# -- 3. one buyer-role rule --------------------------------------------------------------------


async def test_an_account_without_the_buyer_role_neither_orders_nor_accepts(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_shop: MakeShop,
) -> None:
    """The issue's case: an admin sets the buyer's roles to ["seller"]."""
    await make_shop(seller)
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    template = await client.post(
        TEMPLATES,
        json={"title": "Oak desk lamp", "price": "10", "network": 8453},
        headers=seller.headers,
    )
    await set_roles(client, admin, buyer, "seller")

    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 403 and code(r) == "ROLE_REQUIRED"
    order = await client.post(
        f"{TEMPLATES}/{template.json()['data']['id']}/instantiate",
        json={"isDigital": True},
        headers=buyer.headers,
    )
    assert order.status_code == 403 and code(order) == "ROLE_REQUIRED"
    created = await client.post(
        REQUESTS, json={"title": "Another lamp", "isDigital": True}, headers=buyer.headers
    )
    assert created.status_code == 403 and code(created) == "ROLE_REQUIRED"
    assert await payments_of(db, request["id"]) == []
    async with db.session(False) as session:
        count = sa.select(sa.func.count()).select_from(PurchaseRequest)
        assert (await session.execute(count)).scalar_one() == 1
    # The role back, the same accept goes through.
    await set_roles(client, admin, buyer, "buyer")
    assert (await accept(client, buyer, offer["id"])).status_code == 200


# -- 4. the buyer's note is the shop's --------------------------------------------------------


async def test_the_buyers_note_reaches_the_shop_only(
    client: httpx.AsyncClient,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
) -> None:
    await make_shop(seller)
    other_shop_owner = await make_user(["seller"])
    await make_shop(other_shop_owner)
    note = "Gate code 4411, we are away 3-17 May"
    request, _ = await order_template(client, seller, buyer, "25", message=note)
    assert (request["buyerNote"], request["description"]) == (note, "")

    for who in (buyer, seller, admin):
        assert (await read(client, who, request["id"]))["buyerNote"] == note
    for outsider in (None, other_shop_owner):
        seen = await read(client, outsider, request["id"])
        assert seen["buyerNote"] is None and "4411" not in str(seen)
    listed = (await client.get(REQUESTS)).json()["data"]["items"]
    assert [i["id"] for i in listed] == [request["id"]] and "4411" not in str(listed)
    found = await client.get(REQUESTS, params={"q": "gate code"})
    assert found.json()["data"]["items"] == []


# -- 5. accept names the version the buyer saw ------------------------------------------------


async def test_accept_needs_the_version_the_buyer_saw(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    """The issue's case: the seller raises the price to 4,000 and the buyer accepts with no
    body."""
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"], price="40")
    await client.patch(f"{OFFERS}/{offer['id']}", json={"price": "4000"}, headers=seller.headers)

    # No body is refused on `body`, as on every route that takes one; a body without
    # `version` on the field.
    for body, path in ((None, "body"), ({}, "version"), ({"version": None}, "version")):
        r = await client.post(f"{OFFERS}/{offer['id']}/accept", json=body, headers=buyer.headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "VALIDATION_FAILED"
        assert r.json()["error"]["details"][0]["path"] == path
    r = await accept(client, buyer, offer["id"], version=1)
    assert r.status_code == 409 and code(r) == "OFFER_CHANGED"
    assert await payments_of(db, request["id"]) == []
    r = await accept(client, buyer, offer["id"], version=2)
    assert r.json()["data"]["payment"]["amount"] == "4000"


# -- 6. the address reaches the seller once the payment is held -------------------------------


async def physical_deal(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> tuple[dict[str, Any], dict[str, Any]]:
    address = await add_address(client, buyer)
    request = await post_request(client, buyer, isDigital=False, deliveryAddressId=address)
    offer = await post_offer(client, seller, request["id"])
    assert (await accept(client, buyer, offer["id"])).status_code == 200
    return request, offer


async def move(db: Database, request_id: str, mover: Any, **kwargs: Any) -> None:
    async with db.session() as session:
        row = await requests.get_unscoped(session, request_id, lock=True)
        await mover(session, row, **kwargs)
        await session.commit()


async def test_the_seller_gets_the_address_once_funded_and_only_while_the_deal_lives(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request, _ = await physical_deal(client, buyer, seller)
    rid = request["id"]

    async def seller_sees() -> dict[str, Any] | None:
        seen = await read(client, seller, rid)
        assert seen["shipsTo"] == {"city": "Porto", "country": "PT"}
        address: dict[str, Any] | None = seen["deliveryAddress"]
        return address

    assert await seller_sees() is None  # accepted, not paid
    await fund(db, rid)
    assert (await seller_sees() or {}).get("line1") == "7 Rua das Flores"
    r = await client.post(
        f"{REQUESTS}/{rid}/deliver", json={"note": "Sent"}, headers=seller.headers
    )
    assert r.status_code == 200, r.text
    assert (await seller_sees() or {}).get("phone") == "+351912345678"
    await move(db, rid, requests.complete, actor=None, role="system")
    assert await seller_sees() is None  # the deal is over
    for who in (buyer, admin):
        assert (await read(client, who, rid))["deliveryAddress"]["line1"] == "7 Rua das Flores"


@pytest.mark.parametrize("ending", ["cancelled", "refunded", "expired"])
async def test_the_seller_never_keeps_the_address_of_a_deal_that_ended(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, ending: str
) -> None:
    request, _ = await physical_deal(client, buyer, seller)
    rid = request["id"]
    if ending == "cancelled":  # the case: cancelled before funding
        r = await client.post(f"{REQUESTS}/{rid}/cancel", headers=buyer.headers)
        assert r.status_code == 200, r.text
    elif ending == "refunded":
        await fund(db, rid)
        await move(db, rid, requests.refund, actor=None, role="system")
    else:
        await update_rows(db, PurchaseRequest, rid, status="expired")
    seen = await read(client, seller, rid)
    assert seen["status"] == ending
    assert seen["deliveryAddress"] is None and "Rua das Flores" not in str(seen)
    assert (await read(client, buyer, rid))["deliveryAddress"]["city"] == "Porto"


# -- decided and recorded in docs/decisions.md -------------------------------------------------


@pytest.mark.parametrize("fate", ["banned", "no longer a seller"])
async def test_accept_refuses_an_offer_whose_seller_can_no_longer_sell(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    fate: str,
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    if fate == "banned":
        r = await client.post(
            f"/api/admin/users/{seller.id}/ban", json={"reason": "fraud"}, headers=admin.headers
        )
        assert r.status_code == 200, r.text
    else:
        await set_roles(client, admin, seller, "buyer")
    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 409 and code(r) == "OFFER_SELLER_UNAVAILABLE", r.text
    assert await payments_of(db, request["id"]) == []
    assert (await get_request(db, request["id"])).status == "open"


async def test_a_request_lives_at_most_90_days_from_its_publication(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    request = await post_request(client, buyer)
    published = utcnow() - timedelta(days=80)
    await update_rows(
        db,
        PurchaseRequest,
        request["id"],
        published_at=published,
        expires_at=utcnow() + timedelta(days=5),
    )
    # Each push is within 90 days of now, but not of the publication.
    r = await patch_request(
        client, buyer, request["id"], expiresAt=(utcnow() + timedelta(days=20)).isoformat()
    )
    assert r.status_code == 400, r.text
    [detail] = r.json()["error"]["details"]
    assert detail["path"] == "expiresAt"
    assert "90 days from its publication" in detail["msg"]
    assert (published + timedelta(days=90)).date().isoformat() in detail["msg"]
    ok = await patch_request(
        client, buyer, request["id"], expiresAt=(utcnow() + timedelta(days=9)).isoformat()
    )
    assert ok.status_code == 200, ok.text


async def test_an_admin_cannot_force_funding(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request, _ = await physical_deal(client, buyer, seller)
    r = await client.post(
        f"{REQUESTS}/{request['id']}/force-transition",
        json={"to": "funded", "reason": "the buyer says they paid"},
        headers=admin.headers,
    )
    assert r.status_code == 409 and code(r) == "TRANSITION_NOT_FORCEABLE", r.text
    assert (await get_request(db, request["id"])).status == "accepted"
    [payment] = await payments_of(db, request["id"])
    assert payment.status == "pending"
    assert (await read(client, seller, request["id"]))["deliveryAddress"] is None


# -- the migration -----------------------------------------------------------------------------


async def test_the_migration_moves_published_notes_out_and_back(
    tmp_path: Path, backend: str
) -> None:
    """Notes the old code appended to the description move to `buyer_note` (and out of the
    search terms); the downgrade appends them again."""
    extra: dict[str, Any] = {}
    name = f"bazaar_mig_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        await asyncio.to_thread(_pg_exec, f'CREATE DATABASE "{name}"')
        extra["pg_url"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    settings = base_settings(tmp_path, **extra)
    config = alembic_config()
    config.attributes["settings"] = settings
    database = Database(settings)
    rows = sa.table(
        "purchase_requests",
        sa.column("id", sa.Uuid),
        sa.column("description", sa.Text),
        sa.column("updated_at", UTCDateTime()),
    )
    try:
        await asyncio.to_thread(upgrade, settings)
        async with database.session() as session:
            user = User(email="m@example.com", roles=["buyer", "seller"])
            session.add(user)
            await session.flush()
            shop = Shop(owner_id=user.id, name="Oak", slug="oak")
            session.add(shop)
            await session.flush()
            template = RequestTemplate(
                shop_id=shop.id, seller_id=user.id, title="Oak lamp", price=Decimal("5")
            )
            session.add(template)
            await session.flush()

            def made(description: str, note: str | None, from_template: bool) -> PurchaseRequest:
                return PurchaseRequest(
                    buyer_id=user.id,
                    title="Oak lamp",
                    description=description,
                    buyer_note=note,
                    status="open",
                    template_id=template.id if from_template else None,
                )

            ordered = made("Turned oak.", "Gate code 4411", True)
            bare = made("", "Ring twice", True)
            plain = made("Turned oak.", None, True)
            quoted = made("Quote:\n\nNote from the buyer: not a real note", None, False)
            session.add_all([ordered, bare, plain, quoted])
            await session.commit()
            ids = [r.id for r in (ordered, bare, plain, quoted)]

        async def descriptions() -> list[str]:
            async with database.session(False) as session:
                stmt = sa.select(rows.c.id, rows.c.description).where(rows.c.id.in_(ids))
                found = dict((await session.execute(stmt)).all())
            return [found[i] for i in ids]

        async def found(q: str) -> int:
            async with database.session(False) as session:
                stmt = sa.select(sa.func.count()).where(search_clause(q, backend))
                return int((await session.execute(stmt.select_from(PurchaseRequest))).scalar_one())

        assert await found("gate") == 0
        await database.dispose()
        await asyncio.to_thread(command.downgrade, config, "0007_request_search_text")
        assert await descriptions() == [
            "Turned oak.\n\nNote from the buyer: Gate code 4411",
            "Note from the buyer: Ring twice",
            "Turned oak.",
            "Quote:\n\nNote from the buyer: not a real note",
        ]
        assert await found("gate code") == 1
        await database.dispose()

        await asyncio.to_thread(upgrade, settings)
        async with database.session(False) as session:
            stmt = sa.select(PurchaseRequest).where(PurchaseRequest.id.in_(ids))
            after = {r.id: r for r in (await session.execute(stmt)).scalars()}
        assert [(after[i].description, after[i].buyer_note) for i in ids] == [
            ("Turned oak.", "Gate code 4411"),
            ("", "Ring twice"),
            ("Turned oak.", None),
            ("Quote:\n\nNote from the buyer: not a real note", None),  # not a template order
        ]
        assert all(after[i].terms_version == 1 for i in ids)
        assert await found("gate") == 0 and await found("turned oak") == 2
    finally:
        await database.dispose()
        if backend == "postgresql":
            await asyncio.to_thread(_pg_exec, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
