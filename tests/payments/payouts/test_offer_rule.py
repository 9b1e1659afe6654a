"""An offer must be payable out: the seller's shop needs a payout wallet on the offer's
network, checked when the offer is made, when it is moved to another network, and when a
template order makes the shop's offer (409 PAYOUT_WALLET_MISSING, nothing stored)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import PurchaseRequest, SellerOffer
from tests.fixtures.marketplace import MakeShop
from tests.fixtures.users import MakeUser

REQUESTS = "/api/marketplace/requests"
OFFERS = "/api/marketplace/offers"
TEMPLATES = "/api/marketplace/templates"
SHOPS = "/api/marketplace/shop-settings"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


async def open_request(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {"title": "Film scanner", "isDigital": True, "currency": "USDC", "publish": True}
    answer = await client.post(REQUESTS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


async def count(db: Database, model: type) -> int:
    async with db.session(False) as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def test_an_offer_needs_the_shops_wallet_on_its_network(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, make_shop: MakeShop
) -> None:
    buyer = await make_user(["buyer"])
    seller = await make_user(["seller"])
    request_id = await open_request(client, buyer.headers)
    offer = {"requestId": request_id, "price": "80", "network": "base"}

    # No shop at all: nowhere to pay the seller.
    answer = await client.post(OFFERS, json=offer, headers=seller.headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "PAYOUT_WALLET_MISSING")
    assert answer.json()["error"]["details"][0]["path"] == "network"

    # A shop paid on Optimism only: not on Base.
    await make_shop(seller, payout_wallets={"optimism": WALLET})
    answer = await client.post(OFFERS, json=offer, headers=seller.headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "PAYOUT_WALLET_MISSING")
    assert "network 8453" in answer.json()["error"]["message"]
    assert await count(db, SellerOffer) == 0

    made = await client.post(OFFERS, json={**offer, "network": 10}, headers=seller.headers)
    assert made.status_code == 201, made.text
    offer_id = made.json()["data"]["id"]

    # Moving it to Base is refused and leaves it as it was; after adding a Base wallet it
    # moves.
    moved = await client.patch(
        f"{OFFERS}/{offer_id}", json={"network": 8453}, headers=seller.headers
    )
    assert (moved.status_code, moved.json()["error"]["code"]) == (409, "PAYOUT_WALLET_MISSING")
    kept = await client.get(f"{OFFERS}/{offer_id}", headers=seller.headers)
    assert (kept.json()["data"]["network"], kept.json()["data"]["version"]) == (10, 1)
    wallets = {"10": WALLET, "8453": WALLET}
    changed = await client.patch(SHOPS, json={"payoutWallets": wallets}, headers=seller.headers)
    assert changed.status_code == 200, changed.text
    moved = await client.patch(
        f"{OFFERS}/{offer_id}", json={"network": 8453}, headers=seller.headers
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["data"]["network"], moved.json()["data"]["version"]) == (8453, 2)


async def test_a_template_order_follows_the_same_rule(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, make_shop: MakeShop
) -> None:
    buyer = await make_user(["buyer"])
    seller = await make_user(["seller"])
    await make_shop(seller, payout_wallets={"base": WALLET})
    body = {"title": "Hand-bound notebook", "price": "12.50", "network": 8453}
    made = await client.post(TEMPLATES, json=body, headers=seller.headers)
    assert made.status_code == 201, made.text
    url = f"{TEMPLATES}/{made.json()['data']['id']}/instantiate"

    # The seller removes the wallet after listing: orders are refused, nothing is stored.
    cleared = await client.patch(
        SHOPS, json={"payoutWallets": {"10": WALLET}}, headers=seller.headers
    )
    assert cleared.status_code == 200, cleared.text
    answer = await client.post(url, json={"isDigital": True}, headers=buyer.headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "PAYOUT_WALLET_MISSING")
    assert (await count(db, PurchaseRequest), await count(db, SellerOffer)) == (0, 0)

    restored = await client.patch(
        SHOPS, json={"payoutWallets": {"8453": WALLET}}, headers=seller.headers
    )
    assert restored.status_code == 200, restored.text
    answer = await client.post(url, json={"isDigital": True}, headers=buyer.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["offer"]["network"] == 8453
