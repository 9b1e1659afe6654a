"""Reviews: after a completed deal, buyer and seller rate each other once, within the window."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.marketplace.reviews.service import completed_deals, rating_summary
from bazaar.models import Job, PurchaseRequest, Review, SellerOffer
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import fund

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeShop


URL = "/api/marketplace/reviews"


async def make_deal(
    db: Database,
    buyer_id: uuid.UUID,
    seller_id: uuid.UUID,
    *,
    status: str = "completed",
    completed_ago: timedelta | None = timedelta(hours=1),
) -> uuid.UUID:
    """A request whose offer from `seller_id` was accepted, written straight as rows."""
    async with db.session() as session:
        request = PurchaseRequest(
            buyer_id=buyer_id,
            title="Handmade lamp",
            status=status,
            completed_at=utcnow() - completed_ago
            if status == "completed" and completed_ago
            else None,
        )
        session.add(request)
        await session.flush()
        offer = SellerOffer(
            request_id=request.id, seller_id=seller_id, price=Decimal("40"), status="accepted"
        )
        session.add(offer)
        await session.flush()
        request.accepted_offer_id = offer.id
        await session.commit()
        return request.id


async def post_review(
    client: httpx.AsyncClient,
    who: Account,
    request_id: uuid.UUID | str,
    rating: object,
    text: str | None = None,
) -> httpx.Response:
    body: dict[str, object] = {"requestId": str(request_id), "rating": rating}
    if text is not None:
        body["text"] = text
    return await client.post(URL, json=body, headers=who.headers)


async def test_buyer_and_seller_each_review_the_other_once(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    deal = await make_deal(db, buyer.id, seller.id)

    r = await post_review(client, buyer, deal, 5, "  Fast and friendly  ")
    assert r.status_code == 201, r.text
    review = r.json()["data"]
    assert review["subjectId"] == str(seller.id)
    assert review["authorRole"] == "buyer"
    assert review["authorName"] == "Bea Buyer"
    assert review["text"] == "Fast and friendly"

    r = await post_review(client, seller, deal, 4)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["subjectId"] == str(buyer.id)
    assert r.json()["data"]["authorRole"] == "seller"
    assert r.json()["data"]["text"] is None

    for who in (buyer, seller):
        again = await post_review(client, who, deal, 1, "changed my mind")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "ALREADY_REVIEWED"

    r = await client.get(f"{URL}/request/{deal}", headers=buyer.headers)
    assert r.status_code == 200
    data = r.json()["data"]
    assert {(x["authorRole"], x["rating"]) for x in data["reviews"]} == {
        ("buyer", 5),
        ("seller", 4),
    }
    assert data["canReview"] is False

    # The reviewed party is told about it.
    async with db.session(False) as session:
        jobs = (await session.execute(sa.select(Job))).scalars().all()
    notified = {(j.payload["userId"], j.payload["type"]) for j in jobs}
    assert (str(seller.id), "review.received") in notified
    assert (str(buyer.id), "review.received") in notified


async def test_two_simultaneous_reviews_store_only_one(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    deal = await make_deal(db, buyer.id, seller.id)
    results = await asyncio.gather(
        *(post_review(client, buyer, deal, rating) for rating in (5, 3, 4))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409]
    assert all(
        r.json()["error"]["code"] == "ALREADY_REVIEWED" for r in results if r.status_code == 409
    )
    async with db.session(False) as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(Review))).scalar()
    assert count == 1


async def test_review_window_closes_after_seven_days(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    late = await make_deal(db, buyer.id, seller.id, completed_ago=timedelta(days=7, minutes=1))
    r = await post_review(client, buyer, late, 5)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "REVIEW_WINDOW_CLOSED"
    listing = (await client.get(f"{URL}/request/{late}", headers=seller.headers)).json()["data"]
    assert listing["canReview"] is False
    assert listing["reviewWindowClosesAt"] is not None

    in_time = await make_deal(db, buyer.id, seller.id, completed_ago=timedelta(days=6, hours=23))
    listing = (await client.get(f"{URL}/request/{in_time}", headers=seller.headers)).json()
    assert listing["data"]["canReview"] is True
    assert (await post_review(client, seller, in_time, 2)).status_code == 201


@pytest.mark.parametrize("status", ["open", "accepted", "funded", "delivered", "disputed"])
async def test_no_review_before_completion(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, status: str
) -> None:
    deal = await make_deal(db, buyer.id, seller.id, status=status)
    r = await post_review(client, buyer, deal, 5)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "REVIEW_NOT_ALLOWED"
    listing = (await client.get(f"{URL}/request/{deal}", headers=buyer.headers)).json()["data"]
    assert listing == {"reviews": [], "canReview": False, "reviewWindowClosesAt": None}


async def test_only_the_two_parties_may_review_or_read(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    make_user: MakeUser,
) -> None:
    deal = await make_deal(db, buyer.id, seller.id)
    # A seller whose offer lost is no party to the deal.
    loser = await make_user(["seller"])
    async with db.session() as session:
        session.add(
            SellerOffer(
                request_id=deal, seller_id=loser.id, price=Decimal("39"), status="superseded"
            )
        )
        await session.commit()
    stranger = await make_user(["buyer"])

    for who in (loser, stranger):
        r = await post_review(client, who, deal, 1, "never dealt with them")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "REQUEST_NOT_FOUND"
        r = await client.get(f"{URL}/request/{deal}", headers=who.headers)
        assert r.status_code == 404

    assert (await post_review(client, buyer, uuid.uuid4(), 5)).status_code == 404
    assert (await post_review(client, buyer, "not-an-id", 5)).status_code == 404
    anonymous = await client.post(URL, json={"requestId": str(deal), "rating": 5})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": 4.5},
        {"rating": "5"},
        {"rating": True},
        {"rating": 5, "text": "x" * 2001},
        {"rating": 5, "text": "nul \u0000 byte"},
        {"rating": 5, "extra": 1},
        {},
    ],
)
async def test_invalid_review_bodies_are_refused(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, body: dict
) -> None:
    deal = await make_deal(db, buyer.id, seller.id)
    r = await client.post(URL, json={"requestId": str(deal), **body}, headers=buyer.headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "VALIDATION_FAILED"
    ok = await post_review(client, buyer, deal, 5, "x" * 2000)
    assert ok.status_code == 201


async def test_public_list_of_reviews_about_a_user(
    client: httpx.AsyncClient, db: Database, seller: Account, make_user: MakeUser
) -> None:
    buyers = [await make_user(["buyer"], name=f"Buyer {i}") for i in range(3)]
    for i, b in enumerate(buyers):
        deal = await make_deal(db, b.id, seller.id)
        assert (await post_review(client, b, deal, 3 + i, f"review {i}")).status_code == 201
    # The seller also bought something once, and was reviewed as a buyer.
    other_seller = await make_user(["seller"])
    bought = await make_deal(db, seller.id, other_seller.id)
    assert (await post_review(client, other_seller, bought, 1)).status_code == 201

    r = await client.get(URL, params={"userId": str(seller.id), "limit": 2})
    assert r.status_code == 200
    page = r.json()["data"]
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 4, "pages": 2}
    assert [x["rating"] for x in page["items"]] == [1, 5]  # newest first
    assert all(x["subjectId"] == str(seller.id) for x in page["items"])

    as_seller = await client.get(URL, params={"userId": str(seller.id), "role": "seller"})
    items = as_seller.json()["data"]["items"]
    assert [x["authorName"] for x in items] == ["Buyer 2", "Buyer 1", "Buyer 0"]
    as_buyer = await client.get(URL, params={"userId": str(seller.id), "role": "buyer"})
    assert [x["rating"] for x in as_buyer.json()["data"]["items"]] == [1]

    assert (await client.get(URL, params={"userId": str(uuid.uuid4())})).status_code == 404
    assert (await client.get(URL)).status_code == 400


async def test_rating_summary_and_completed_deals(
    client: httpx.AsyncClient, db: Database, seller: Account, make_user: MakeUser
) -> None:
    async with db.session(False) as session:
        assert await rating_summary(session, seller.id) == {"average": None, "count": 0}
        assert await completed_deals(session, seller.id) == 0

    # 8 ratings summing to 33: 4.125, which rounds half-even to 4.12 (half-up would say 4.13).
    buyer = await make_user(["buyer"])
    for rating in (5, 5, 5, 5, 5, 5, 2, 1):
        deal = await make_deal(db, buyer.id, seller.id)
        assert (await post_review(client, buyer, deal, rating)).status_code == 201
    # Not counted as completed deals: one still in progress, one won by another seller.
    await make_deal(db, buyer.id, seller.id, status="funded")
    await make_deal(db, buyer.id, (await make_user(["seller"])).id)

    async with db.session(False) as session:
        assert await rating_summary(session, seller.id) == {"average": "4.12", "count": 8}
        assert await rating_summary(session, seller.id, author_role="seller") == {
            "average": None,
            "count": 0,
        }
        assert await completed_deals(session, seller.id) == 8
        assert await rating_summary(session, buyer.id) == {"average": None, "count": 0}

    deal = await make_deal(db, buyer.id, seller.id)
    assert (await post_review(client, buyer, deal, 5)).status_code == 201
    async with db.session(False) as session:
        # 38 / 9 = 4.2222...
        assert await rating_summary(session, seller.id) == {"average": "4.22", "count": 9}


async def test_reviews_after_a_deal_driven_through_the_state_machine(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_shop: MakeShop,
) -> None:
    await make_shop(seller)
    template = await client.post(
        "/api/marketplace/templates",
        json={"title": "Custom mug", "price": "18", "network": 8453},
        headers=seller.headers,
    )
    order = await client.post(
        f"/api/marketplace/templates/{template.json()['data']['id']}/instantiate",
        json={"isDigital": True},
        headers=buyer.headers,
    )
    request_id = order.json()["data"]["request"]["id"]
    offer_id = order.json()["data"]["offer"]["id"]
    requests_url = f"/api/marketplace/requests/{request_id}"

    r = await client.post(
        f"/api/marketplace/offers/{offer_id}/accept", json={"version": 1}, headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    # Funding is the chain's word, which an admin cannot force: the system's move.
    r = await client.post(
        f"{requests_url}/force-transition",
        json={"to": "funded", "reason": "paid off-platform in a test"},
        headers=admin.headers,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "TRANSITION_NOT_FORCEABLE"
    await fund(db, request_id)
    delivered = await client.post(
        f"{requests_url}/deliver", json={"note": "Shipped the design file"}, headers=seller.headers
    )
    assert delivered.status_code == 200, delivered.text
    # Delivered but not completed yet: too early to review.
    early = await post_review(client, buyer, request_id, 5)
    assert early.json()["error"]["code"] == "REVIEW_NOT_ALLOWED"

    r = await client.post(
        f"{requests_url}/force-transition",
        json={"to": "completed", "reason": "inspection waived"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "completed"

    assert (await post_review(client, buyer, request_id, 5, "Lovely mug")).status_code == 201
    assert (await post_review(client, seller, request_id, 4)).status_code == 201
    async with db.session(False) as session:
        assert await rating_summary(session, seller.id) == {"average": "5.00", "count": 1}
        assert await rating_summary(session, buyer.id) == {"average": "4.00", "count": 1}
        assert await completed_deals(session, seller.id) == 1
