"""The newcomer's walk-through, as one would do it with curl: a buyer posts a request, two
sellers offer, the buyer accepts one; the other is superseded and a payment is due."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.fixtures.marketplace import ensure_payout_wallet
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    OFFERS,
    REQUESTS,
    get_offer,
    iso,
    notified,
    payments_of,
)


async def test_request_two_offers_accept_one(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    buyer: Account,
    make_user: MakeUser,
) -> None:
    alice = await make_user(["seller"], name="Alice Seller")
    bob = await make_user(["seller"], name="Bob Seller")

    # 1. The buyer posts and publishes a request.
    created = await client.post(
        REQUESTS,
        headers=buyer.headers,
        json={
            "title": "Mechanical keyboard, brown switches",
            "description": "Full size, US layout",
            "budgetMin": "80",
            "budgetMax": "160.50",
            "currency": "usdc",
            "isDigital": True,
            "publish": True,
        },
    )
    assert created.status_code == 201, created.text
    request = created.json()["data"]
    assert request["status"] == "open"
    assert request["budgetMax"] == "160.5"
    assert request["currency"] == "USDC"
    request_id = request["id"]

    # 2. It is in the public list, for anyone.
    listed = await client.get(REQUESTS, params={"q": "keyboard"})
    assert [r["id"] for r in listed.json()["data"]["items"]] == [request_id]

    # 3. Two sellers offer (each paid out to their shop's wallet on the offer's network).
    offers = {}
    for seller, price in ((alice, "120.00"), (bob, "110")):
        await ensure_payout_wallet(client, seller, 8453)
        r = await client.post(
            OFFERS,
            headers=seller.headers,
            json={"requestId": request_id, "price": price, "deliveryDays": 3, "network": 8453},
        )
        assert r.status_code == 201, r.text
        offers[seller.email] = r.json()["data"]
    assert len(await notified(db, buyer, "offer.received")) == 2

    detail = (await client.get(f"{REQUESTS}/{request_id}", headers=buyer.headers)).json()["data"]
    assert detail["offerCount"] == 2
    assert {o["price"] for o in detail["offers"]} == {"120", "110"}

    # 4. The buyer accepts Alice's offer.
    winner = offers[alice.email]
    accepted = await client.post(
        f"{OFFERS}/{winner['id']}/accept",
        json={"version": winner["version"]},
        headers=buyer.headers,
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()["data"]
    assert body["requestStatus"] == "accepted"
    assert body["offer"]["status"] == "accepted"
    payment = body["payment"]
    assert payment["status"] == "pending"
    assert payment["amount"] == "120"
    assert payment["platformFee"] == "3"  # 2.5 % of 120
    assert payment["network"] == 8453
    deadline = iso(body["fundingDeadline"])
    assert iso(payment["expiresAt"]) == deadline
    created_at = iso(payment["createdAt"])
    assert deadline - created_at == settings.payment_window

    # 5. Bob's offer is superseded and Bob is told; Alice is told she won.
    loser = await get_offer(db, offers[bob.email]["id"])
    assert loser.status == "superseded"
    assert len(await notified(db, bob, "offer.superseded")) == 1
    assert len(await notified(db, alice, "offer.accepted")) == 1

    # 6. Exactly one pending payment exists, for Alice's offer at the locked price.
    [row] = await payments_of(db, request_id)
    assert (row.status, row.amount, row.seller_id) == ("pending", Decimal("120"), alice.id)
    after = (await client.get(f"{REQUESTS}/{request_id}", headers=buyer.headers)).json()["data"]
    assert after["status"] == "accepted"
    assert after["lockedPrice"] == "120"
    assert after["acceptedOfferId"] == winner["id"]
    assert [(h["fromStatus"], h["toStatus"]) for h in after["history"]] == [
        (None, "draft"),
        ("draft", "open"),
        ("open", "accepted"),
    ]
    assert iso(after["expiresAt"]) - iso(after["publishedAt"]) == timedelta(days=7)
