"""`/api/payment` through HTTP: who may see, release and refund a payment; the detail's
history; the buyer's confirm on the request; the CSV export; provider health."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.marketplace.requests import service as requests
from bazaar.models import Payout, User
from bazaar.payments import ledger, service
from tests.conftest import base_settings, make_app
from tests.fixtures.payments import (
    Deliver,
    FundPayment,
    MakeDeal,
    get_payment,
    get_request,
    ledger_kinds,
)
from tests.fixtures.users import Account, MakeUser

PAY = "/api/payment"


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def post(
    client: httpx.AsyncClient, url: str, who: Account, body: Any = None, **headers: str
) -> httpx.Response:
    return await client.post(url, json=body, headers={**who.headers, **key(), **headers})


async def test_buyer_releases_after_delivery(
    client: httpx.AsyncClient,
    db: Database,
    make_deal: MakeDeal,
    fund_payment: FundPayment,
    deliver: Deliver,
) -> None:
    deal = await make_deal(price="200")
    await fund_payment(deal.payment_id)
    url = f"{PAY}/{deal.payment_id}/release"
    early = await post(client, url, deal.buyer)
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "DELIVERY_NOT_CONFIRMABLE"
    await deliver(deal)
    by_seller = await post(client, url, deal.seller)
    assert (by_seller.status_code, by_seller.json()["error"]["code"]) == (403, "NOT_THE_BUYER")
    no_key = await client.post(url, headers=deal.buyer.headers)
    assert no_key.status_code == 400
    assert no_key.json()["error"]["details"][0]["path"] == "Idempotency-Key"

    answer = await post(client, url, deal.buyer)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["status"] == "released" and data["settledAt"]
    assert [(e["fromStatus"], e["toStatus"]) for e in data["events"]][-1] == ("held", "released")
    assert data["events"][-1]["cause"] == "buyer.confirmed_delivery"
    # The buyer sees no payout (it goes to the seller); the seller sees theirs.
    assert data["payouts"] == []
    seen = (await client.get(f"{PAY}/{deal.payment_id}", headers=deal.seller.headers)).json()
    assert [(p["kind"], p["amount"]) for p in seen["data"]["payouts"]] == [("release", "195")]
    assert (await get_request(db, deal.request_id)).status == "completed"
    assert await ledger_kinds(db, deal.payment_id) == ["fund", "release"]
    payment = await get_payment(db, deal.payment_id)
    async with db.session(False) as session:
        asset = ledger.asset_of(payment)
        payable = await ledger.owed(session, "seller_payable", deal.seller.id, asset)
        assert payable == Decimal("195")
        assert await ledger.held(session, payment) == 0


async def test_buyer_confirms_on_the_request(
    client: httpx.AsyncClient,
    db: Database,
    make_deal: MakeDeal,
    fund_payment: FundPayment,
    deliver: Deliver,
) -> None:
    deal = await make_deal(price="10")
    await fund_payment(deal.payment_id)
    url = f"/api/marketplace/requests/{deal.request_id}/complete"
    early = await post(client, url, deal.buyer)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "DELIVERY_NOT_CONFIRMABLE")
    await deliver(deal)
    answer = await post(client, url, deal.buyer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["status"] == "completed"
    assert (await get_payment(db, deal.payment_id)).status == "released"


async def test_seller_refunds_and_admin_needs_a_reason(
    client: httpx.AsyncClient,
    db: Database,
    make_deal: MakeDeal,
    fund_payment: FundPayment,
    admin: Account,
) -> None:
    deal = await make_deal(price="30")
    await fund_payment(deal.payment_id)
    url = f"{PAY}/{deal.payment_id}/refund"
    by_buyer = await post(client, url, deal.buyer)
    assert (by_buyer.status_code, by_buyer.json()["error"]["code"]) == (403, "NOT_THE_SELLER")
    by_admin = await post(client, url, admin)
    assert by_admin.status_code == 400
    answer = await post(client, url, deal.seller, {"reason": "Out of stock"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["status"] == "refunded"
    assert (await get_request(db, deal.request_id)).status == "refunded"
    again = await post(client, url, admin, {"reason": "double check"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "PAYMENT_NOT_REFUNDABLE")
    async with db.session(False) as session:
        payouts = (await session.execute(sa.select(Payout))).scalars().all()
    assert [(p.kind, p.amount, p.recipient_id) for p in payouts] == [
        ("refund", Decimal("30"), deal.buyer.id)
    ]


async def test_an_admin_releases_any_delivered_payment(
    client: httpx.AsyncClient, db: Database, admin: Account, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="30")
    answer = await post(client, f"{PAY}/{deal.payment_id}/release", admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["events"][-1]["cause"] == "admin.release"
    assert (await get_request(db, deal.request_id)).status == "completed"


async def test_a_third_user_cannot_see_move_or_export_the_payment(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="40")
    third = await make_user(["buyer", "seller"])
    for method, url in (
        ("GET", f"{PAY}/{deal.payment_id}"),
        ("POST", f"{PAY}/{deal.payment_id}/release"),
        ("POST", f"{PAY}/{deal.payment_id}/refund"),
    ):
        answer = await client.request(method, url, headers={**third.headers, **key()})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "PAYMENT_NOT_FOUND"
    listed = await client.get(PAY, headers=third.headers)
    assert listed.json()["data"]["items"] == []
    everyone = await client.get(PAY, params={"all": "true"}, headers=third.headers)
    assert everyone.status_code == 403
    exported = await client.get(f"{PAY}/export.csv", headers=third.headers)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows == []
    assert (await get_payment(db, deal.payment_id)).status == "held"
    assert await ledger_kinds(db, deal.payment_id) == ["fund"]


async def test_lists_and_the_admin_search(
    client: httpx.AsyncClient, make_deal: MakeDeal, admin: Account, fund_payment: FundPayment
) -> None:
    first = await make_deal(price="1")
    second = await make_deal(price="2", buyer=first.buyer)
    await fund_payment(second.payment_id)
    mine = (await client.get(PAY, headers=first.buyer.headers)).json()["data"]
    assert [i["id"] for i in mine["items"]] == [str(second.payment_id), str(first.payment_id)]
    held = await client.get(PAY, params={"status": "held"}, headers=first.buyer.headers)
    assert [i["id"] for i in held.json()["data"]["items"]] == [str(second.payment_id)]
    assert held.json()["data"]["items"][0]["amountPaid"] == "2"
    as_seller = (await client.get(PAY, headers=first.seller.headers)).json()["data"]
    assert [i["id"] for i in as_seller["items"]] == [str(first.payment_id)]
    # The admin is no party: only `all=true` shows them.
    assert (await client.get(PAY, headers=admin.headers)).json()["data"]["items"] == []
    found = await client.get(
        PAY, params={"all": "true", "q": str(first.request_id)}, headers=admin.headers
    )
    assert [i["id"] for i in found.json()["data"]["items"]] == [str(first.payment_id)]
    detail = await client.get(f"{PAY}/{first.payment_id}", headers=admin.headers)
    assert detail.status_code == 200


async def test_csv_export_lists_the_viewers_payments(
    client: httpx.AsyncClient, make_deal: MakeDeal, admin: Account, fund_payment: FundPayment
) -> None:
    first = await make_deal(price="12.345678")
    other = await make_deal(price="5")
    await fund_payment(first.payment_id)
    answer = await client.get(f"{PAY}/export.csv", headers=first.buyer.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["id"], r["role"], r["status"], r["amount"], r["amount_paid"]) for r in rows] == [
        (str(first.payment_id), "buyer", "held", "12.345678", "12.345678")
    ]
    assert rows[0]["currency"] == "USDC" and rows[0]["network"] == "8453"
    everyone = await client.get(f"{PAY}/export.csv", params={"all": "true"}, headers=admin.headers)
    ids = {r["id"] for r in csv.DictReader(io.StringIO(everyone.text))}
    assert ids == {str(first.payment_id), str(other.payment_id)}


async def test_health_says_what_is_configured_and_reachable(
    client: httpx.AsyncClient, buyer: Account, tmp_path: Path
) -> None:
    answer = await client.get(f"{PAY}/health", headers=buyer.headers)
    assert answer.status_code == 200
    assert answer.json()["data"]["onchain"]["configured"] is False
    # A node nobody listens on: reported unreachable, with the reason, and no exception.
    settings = base_settings(
        tmp_path,
        rpc_urls={31337: "http://127.0.0.1:9"},
        onchain_receiver_address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    )
    report = await service.health(settings)
    assert report["onchain"]["configured"] is True
    assert report["onchain"]["healthy"] is False
    [chain] = report["onchain"]["chains"]
    assert chain["chainId"] == 31337 and chain["reachable"] is False and chain["error"]


async def test_the_detail_is_not_rate_limited_the_rest_is(
    settings: Settings, db: Database, make_deal: MakeDeal
) -> None:
    """Checkout pages poll `GET /api/payment/{id}`: RATE_LIMIT_PAYMENT does not count it,
    while the list (like every other payment route) is limited."""
    deal = await make_deal(price="3")
    limited = settings.model_copy(update={"rate_limit_payment": "3/15 minutes"})
    app = make_app(limited, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            url = f"{PAY}/{deal.payment_id}"
            polls = [await c.get(url, headers=deal.buyer.headers) for _ in range(8)]
            assert [p.status_code for p in polls] == [200] * 8
            lists = [await c.get(PAY, headers=deal.buyer.headers) for _ in range(4)]
            assert [answer.status_code for answer in lists] == [200, 200, 200, 429]


async def test_a_disputed_payment_waits_for_the_dispute(
    client: httpx.AsyncClient, db: Database, make_delivered: MakeDeal
) -> None:
    deal = await make_delivered(price="15")
    async with db.transaction() as session:
        request = await requests.get_unscoped(session, deal.request_id, lock=True)
        buyer = await session.get_one(User, deal.buyer.id)
        await requests.open_dispute(session, request, actor=buyer, role="buyer")
    for url, who in (("release", deal.buyer), ("refund", deal.seller)):
        answer = await post(client, f"{PAY}/{deal.payment_id}/{url}", who)
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "PAYMENT_DISPUTED")
    assert (await get_payment(db, deal.payment_id)).status == "held"
    assert await ledger_kinds(db, deal.payment_id) == ["fund"]
