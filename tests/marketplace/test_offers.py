"""Seller offers over HTTP: make, edit, withdraw, reject, accept, list, and who may do each."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.marketplace.offers import service as offers
from bazaar.marketplace.offers.errors import OfferExists
from bazaar.marketplace.offers.schemas import OfferFields
from bazaar.marketplace.requests import service as requests
from bazaar.models import PurchaseRequest, SellerOffer, User
from tests.fixtures.marketplace import ensure_payout_wallet
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    OFFERS,
    accept,
    accepted_deal,
    get_offer,
    get_request,
    iso,
    notified,
    payments_of,
    post_offer,
    post_request,
    update_rows,
)

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeShop


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def offer_on(
    client: httpx.AsyncClient, who: Account, request_id: str, **body: Any
) -> httpx.Response:
    payload: dict[str, Any] = {"requestId": request_id, "price": "40", "network": 8453, **body}
    await ensure_payout_wallet(client, who, payload["network"])
    return await client.post(OFFERS, json=payload, headers=who.headers)


# -- make ------------------------------------------------------------------------------------


async def test_offer_defaults_and_the_buyer_is_told(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer, currency="DAI")
    r = await offer_on(
        client, seller, request["id"], price="12.345", network="base", message="Can ship tomorrow"
    )
    assert r.status_code == 201, r.text
    offer = r.json()["data"]
    assert offer["status"] == "pending" and offer["version"] == 1
    assert (offer["price"], offer["currency"], offer["network"]) == ("12.345", "DAI", 8453)
    assert (offer["deliveryDays"], offer["message"]) == (7, "Can ship tomorrow")
    assert offer["sellerId"] == str(seller.id) and offer["fromTemplate"] is False
    # Default expiry: the earlier of the request's deadline (7 d) and now + OFFER_DEFAULT_TTL.
    expected = min(iso(request["expiresAt"]), iso(offer["createdAt"]) + settings.offer_default_ttl)
    assert iso(offer["expiresAt"]) == expected
    [told] = await notified(db, buyer, "offer.received")
    assert (told["offerId"], told["price"]) == (offer["id"], "12.345")


async def test_offer_expiry_is_capped_by_the_request_deadline(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    deadline = utcnow() + timedelta(days=2)
    request = await post_request(client, buyer, expiresAt=deadline.isoformat())
    r = await offer_on(client, seller, request["id"])
    assert iso(r.json()["data"]["expiresAt"]) == iso(request["expiresAt"])
    seller = await make_user(["seller"])  # the first one already has a live offer
    late = (deadline + timedelta(hours=1)).isoformat()
    r = await offer_on(client, seller, request["id"], expiresAt=late)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "expiresAt"
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert (await offer_on(client, seller, request["id"], expiresAt=past)).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"price": "0"},
        {"price": 12.5},
        {"price": "abc"},
        {"deliveryDays": 0},
        {"deliveryDays": 366},
        {"network": "atlantis"},
        {"currency": "$$$"},
        {"message": "x" * 2001},
        {"requestId": "../../etc"},
        {"bonus": "free"},
    ],
)
async def test_bad_offer_input_is_400(
    client: httpx.AsyncClient, buyer: Account, seller: Account, body: dict[str, Any]
) -> None:
    request = await post_request(client, buyer)
    r = await offer_on(client, seller, request["id"], **body)
    assert r.status_code == 400, r.text
    assert code(r) == "VALIDATION_FAILED"


async def test_who_may_make_an_offer(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request = await post_request(client, buyer)
    rid = request["id"]
    assert (await offer_on(client, buyer, rid)).status_code == 403  # no seller role
    assert (await client.post(OFFERS, json={"requestId": rid, "price": "1"})).status_code == 401
    both = await make_user(["buyer", "seller"])
    own = await post_request(client, both)
    r = await offer_on(client, both, own["id"])
    assert r.status_code == 403 and code(r) == "OWN_REQUEST"
    draft = await post_request(client, buyer, publish=False)
    assert (await offer_on(client, seller, draft["id"])).status_code == 404
    assert (await offer_on(client, seller, str(uuid.uuid4()))).status_code == 404


async def test_one_live_offer_per_seller(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    first = (await offer_on(client, seller, request["id"])).json()["data"]
    again = await offer_on(client, seller, request["id"], price="35")
    assert again.status_code == 409 and code(again) == "OFFER_EXISTS"
    await client.post(f"{OFFERS}/{first['id']}/withdraw", headers=seller.headers)
    assert (await offer_on(client, seller, request["id"], price="35")).status_code == 201


async def test_racing_duplicate_offers_leave_one(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    results = await asyncio.gather(
        *(offer_on(client, seller, request["id"], price=str(30 + n)) for n in range(4))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    assert {code(r) for r in results if r.status_code == 409} == {"OFFER_EXISTS"}
    mine = await client.get(OFFERS, params={"requestId": request["id"]}, headers=buyer.headers)
    assert mine.json()["data"]["pagination"]["total"] == 1


async def test_only_open_requests_take_offers(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request, _ = await accepted_deal(client, buyer, seller)
    rival = await make_user(["seller"])
    # The accepted seller may see the request, but it takes no more offers.
    r = await offer_on(client, seller, request["id"])
    assert r.status_code == 409
    # A seller with no tie to a non-open request does not learn it exists.
    assert (await offer_on(client, rival, request["id"])).status_code == 404
    lapsed = await post_request(client, buyer)
    await update_rows(db, PurchaseRequest, lapsed["id"], expires_at=utcnow() - timedelta(seconds=1))
    r = await offer_on(client, rival, lapsed["id"])
    assert r.status_code == 409 and code(r) == "REQUEST_NOT_OPEN"


async def test_a_targeted_request_takes_offers_from_its_shop_only(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    make_user: MakeUser,
    make_shop: MakeShop,
) -> None:
    shop = await make_shop(seller, name="Sam's Cameras")
    other = await make_user(["seller"])
    await make_shop(other, name="Other Shop")
    request = await post_request(client, buyer)
    await update_rows(db, PurchaseRequest, request["id"], target_shop_id=shop.id)
    r = await offer_on(client, other, request["id"])
    assert r.status_code == 403 and code(r) == "REQUEST_TARGETS_ANOTHER_SHOP"
    ok = await offer_on(client, seller, request["id"])
    assert ok.status_code == 201 and ok.json()["data"]["shopId"] == str(shop.id)


# -- edit, withdraw, reject ------------------------------------------------------------------


async def test_edit_bumps_the_version_and_the_buyer_must_accept_it_again(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    url = f"{OFFERS}/{offer['id']}"
    r = await client.patch(url, json={"price": "95", "deliveryDays": 2}, headers=seller.headers)
    assert r.status_code == 200, r.text
    edited = r.json()["data"]
    assert (edited["price"], edited["deliveryDays"], edited["version"]) == ("95", 2, 2)
    [told] = await notified(db, buyer, "offer.updated")
    assert told["version"] == 2
    stale = await accept(client, buyer, offer["id"], version=1)
    assert stale.status_code == 409 and code(stale) == "OFFER_CHANGED"
    assert stale.json()["error"]["details"] == {"currentVersion": 2}
    fresh = await accept(client, buyer, offer["id"], version=2)
    assert fresh.status_code == 200
    assert fresh.json()["data"]["payment"]["amount"] == "95"


async def test_edit_rules(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    url = f"{OFFERS}/{offer['id']}"
    stranger = await make_user(["seller"])
    assert (await client.patch(url, json={"price": "1"}, headers=buyer.headers)).status_code == 403
    assert (
        await client.patch(url, json={"price": "1"}, headers=stranger.headers)
    ).status_code == 404
    assert (await client.patch(url, json={}, headers=seller.headers)).status_code == 400
    assert (
        await client.patch(url, json={"price": None}, headers=seller.headers)
    ).status_code == 400
    await client.post(f"{url}/withdraw", headers=seller.headers)
    gone = await client.patch(url, json={"price": "1"}, headers=seller.headers)
    assert gone.status_code == 409 and code(gone) == "OFFER_NOT_PENDING"


async def test_withdraw(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    url = f"{OFFERS}/{offer['id']}/withdraw"
    assert (await client.post(url, headers=buyer.headers)).status_code == 403
    r = await client.post(url, headers=seller.headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "withdrawn"
    assert len(await notified(db, buyer, "offer.withdrawn")) == 1
    again = await client.post(url, headers=seller.headers)
    assert again.status_code == 409 and code(again) == "OFFER_NOT_PENDING"


async def test_reject(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    url = f"{OFFERS}/{offer['id']}/reject"
    assert (await client.post(url, headers=seller.headers)).status_code == 403
    r = await client.post(url, json={"reason": "Too slow"}, headers=buyer.headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "rejected"
    [told] = await notified(db, seller, "offer.rejected")
    assert told["reason"] == "Too slow"
    assert (await client.post(url, headers=buyer.headers)).status_code == 409
    # A rejected offer is not live: the seller may try again.
    assert (await offer_on(client, seller, request["id"], price="30")).status_code == 201


# -- accept ----------------------------------------------------------------------------------


async def test_accept_locks_the_deal(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account, make_user: MakeUser
) -> None:
    sellers = [await make_user(["seller"]) for _ in range(3)]
    request = await post_request(client, buyer, currency="DAI")
    offers = [
        await post_offer(client, s, request["id"], price=p, network=137)
        for s, p in zip(sellers, ("10.000000000000000001", "11", "12"), strict=True)
    ]
    withdrawn = offers[2]
    await client.post(f"{OFFERS}/{withdrawn['id']}/withdraw", headers=sellers[2].headers)
    r = await accept(client, buyer, offers[0]["id"])
    assert r.status_code == 200, r.text
    row = await get_request(db, request["id"])
    assert row.status == "accepted"
    assert row.locked_price == Decimal("10.000000000000000001")
    assert row.accepted_offer_id == uuid.UUID(offers[0]["id"])
    assert (await get_offer(db, offers[1]["id"])).status == "superseded"
    assert (await get_offer(db, withdrawn["id"])).status == "withdrawn"  # only pending ones
    [payment] = await payments_of(db, request["id"])
    assert payment.amount == Decimal("10.000000000000000001")
    assert payment.platform_fee == Decimal("0.25")  # 2.5 %, quantized to 18 decimals
    assert (payment.currency, payment.network, payment.status) == ("DAI", 137, "pending")
    # DAI's contract on Polygon, from the token registry.
    assert payment.token_contract == "0x8f3Cf7ad23Cd3CaDbD9735AFf958023239c6A063"
    assert payment.expires_at == row.funding_deadline
    assert payment.buyer_id == buyer.id and payment.seller_id == sellers[0].id
    assert len(await notified(db, sellers[1], "offer.superseded")) == 1
    assert await notified(db, sellers[2], "offer.superseded") == []


async def test_who_may_accept(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_user: MakeUser,
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    stranger = await make_user(["buyer"])
    assert (await accept(client, seller, offer["id"])).status_code == 403
    assert (await accept(client, admin, offer["id"])).status_code == 403
    assert (await accept(client, stranger, offer["id"])).status_code == 404
    assert (await client.post(f"{OFFERS}/{offer['id']}/accept")).status_code == 401
    assert (await get_request(db, request["id"])).status == "open"


async def test_accept_refuses_expired_and_closed_offers(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    await update_rows(db, SellerOffer, offer["id"], expires_at=utcnow() - timedelta(seconds=1))
    expired = await accept(client, buyer, offer["id"])
    assert expired.status_code == 409 and code(expired) == "OFFER_EXPIRED"
    rival = await make_user(["seller"])
    other = await post_offer(client, rival, request["id"])
    await client.post(f"{OFFERS}/{other['id']}/reject", headers=buyer.headers)
    rejected = await accept(client, buyer, other["id"])
    assert rejected.status_code == 409 and code(rejected) == "OFFER_NOT_PENDING"
    assert await payments_of(db, request["id"]) == []


async def test_accept_on_a_request_no_longer_open(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    await client.post(f"/api/marketplace/requests/{request['id']}/cancel", headers=buyer.headers)
    await update_rows(db, SellerOffer, offer["id"], status="pending")  # as if left behind
    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 409 and code(r) == "INVALID_STATE_TRANSITION"


# -- lists -----------------------------------------------------------------------------------


async def test_offers_of_a_request_per_viewer(
    client: httpx.AsyncClient, buyer: Account, seller: Account, admin: Account, make_user: MakeUser
) -> None:
    rival = await make_user(["seller"])
    bystander = await make_user(["seller"])
    request = await post_request(client, buyer)
    mine = await post_offer(client, seller, request["id"])
    await post_offer(client, rival, request["id"])

    async def listed(who: Account, **params: Any) -> httpx.Response:
        params = {"requestId": request["id"], **params}
        return await client.get(OFFERS, params=params, headers=who.headers)

    assert (await listed(buyer)).json()["data"]["pagination"]["total"] == 2
    assert (await listed(admin)).json()["data"]["pagination"]["total"] == 2
    assert [o["id"] for o in (await listed(seller)).json()["data"]["items"]] == [mine["id"]]
    assert (await listed(bystander)).json()["data"]["items"] == []
    assert (await listed(buyer, status="accepted")).json()["data"]["items"] == []
    assert (await client.get(OFFERS, headers=buyer.headers)).status_code == 400  # no requestId
    await accept(client, buyer, mine["id"])
    assert (await listed(bystander)).status_code == 404  # no longer public
    assert (await listed(rival)).status_code == 200  # offered on it


async def test_my_offers(client: httpx.AsyncClient, buyer: Account, seller: Account) -> None:
    first = await post_request(client, buyer, title="Red bicycle")
    second = await post_request(client, buyer, title="Blue kayak")
    a = await post_offer(client, seller, first["id"])
    await post_offer(client, seller, second["id"])
    await client.post(f"{OFFERS}/{a['id']}/withdraw", headers=seller.headers)
    r = await client.get(f"{OFFERS}/mine", headers=seller.headers)
    data = r.json()["data"]
    assert data["pagination"]["total"] == 2
    assert {(o["requestTitle"], o["status"]) for o in data["items"]} == {
        ("Red bicycle", "withdrawn"),
        ("Blue kayak", "pending"),
    }
    pending = await client.get(
        f"{OFFERS}/mine", params={"status": "pending"}, headers=seller.headers
    )
    assert [o["requestTitle"] for o in pending.json()["data"]["items"]] == ["Blue kayak"]
    assert (await client.get(f"{OFFERS}/mine", headers=buyer.headers)).json()["data"]["items"] == []
    assert (
        await client.get(f"{OFFERS}/mine", params={"status": "nope"}, headers=seller.headers)
    ).status_code == 400
    paged = await client.get(f"{OFFERS}/mine", params={"limit": 1}, headers=seller.headers)
    assert paged.json()["data"]["pagination"] == {"page": 1, "limit": 1, "total": 2, "pages": 2}


async def test_offer_detail_per_viewer(
    client: httpx.AsyncClient, buyer: Account, seller: Account, admin: Account, make_user: MakeUser
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    stranger = await make_user(["seller"])
    url = f"{OFFERS}/{offer['id']}"
    for who, status in ((seller, 200), (buyer, 200), (admin, 200), (stranger, 404)):
        assert (await client.get(url, headers=who.headers)).status_code == status
    assert (await client.get(url)).status_code == 401
    assert (await client.get(f"{OFFERS}/{uuid.uuid4()}", headers=seller.headers)).status_code == 404


async def waiting_on_a_lock(db: Database) -> bool:
    """Some session of this database is waiting for a lock (PostgreSQL)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with db.reading() as session:
        return bool((await session.execute(query)).scalar_one())


async def test_the_unique_index_backs_the_one_live_offer_rule(
    client: httpx.AsyncClient, db: Database, backend: str, buyer: Account, seller: Account
) -> None:
    """Another transaction inserts this seller's offer after our check but before our insert:
    the partial unique index refuses ours and the answer is still OFFER_EXISTS."""
    if backend != "postgresql":
        pytest.skip("SQLite write transactions never overlap (BEGIN IMMEDIATE)")

    request = await post_request(client, buyer)
    await ensure_payout_wallet(client, seller, 8453)
    rival_txn = db.session()
    rival_txn.add(
        SellerOffer(request_id=uuid.UUID(request["id"]), seller_id=seller.id, price=Decimal("1"))
    )
    await rival_txn.flush()  # holds the index entry until it commits

    async def ours() -> None:
        async with db.session() as session:
            user = await session.get_one(User, seller.id)
            row = await requests.get_readable(session, request["id"], user)
            data = OfferFields(price=Decimal("2"), network=8453)
            await offers.create_offer(session, user, row, data, settings=db.settings)

    task = asyncio.create_task(ours())
    # Ours passed its check and now waits on the rival's index entry (a lock wait).
    async with asyncio.timeout(30):
        while not task.done() and not await waiting_on_a_lock(db):
            pass
    await rival_txn.commit()
    await rival_txn.close()
    with pytest.raises(OfferExists):
        await task
