"""Bulk data for bench/marketplace.py: users, the starter categories, N purchase requests
and a few thousand offers, written with SQLAlchemy Core inserts in one transaction.

The data is deterministic (a fixed random seed) and shaped like a live marketplace: titles
and descriptions from a small vocabulary, budgets as Decimals in several tokens, most
requests open with a deadline ahead, the rest spread over the other states, and offers
concentrated on some requests (a long tail), so the listing's offer counts are real work.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bazaar.kit.db import SQLITE_OPTIMIZE, Database, utcnow
from bazaar.kit.textsearch import document
from bazaar.marketplace.categories.seed import seed_categories
from bazaar.models import Category, PurchaseRequest, SellerOffer, User

SEED = 20261125
BUYERS = 300
SELLERS = 80
CHUNK = 1000

# Nouns by category slug: a title names something that belongs to its category.
NOUNS: dict[str | None, list[str]] = {
    "electronics": ["charger", "monitor", "camera", "drone", "router"],
    "phones": ["phone", "smartphone", "iphone", "pixel", "phone case"],
    "laptops": ["laptop", "notebook", "thinkpad", "macbook", "chromebook"],
    "audio": ["headphones", "speaker", "turntable", "amplifier", "microphone"],
    "home-garden": ["lamp", "sofa", "drill", "planter", "coffee grinder"],
    "fashion": ["jacket", "sneakers", "dress", "watch", "backpack"],
    "digital-goods": ["ebook", "course", "font", "stock photos", "preset pack"],
    "software": ["license", "subscription", "plugin", "antivirus", "ide license"],
    "gift-cards": ["gift card", "voucher", "store credit", "game card", "top-up"],
    "services": ["repair", "translation", "logo design", "tutoring", "bookkeeping"],
    "collectibles": ["coin", "stamp", "trading card", "figure", "vinyl record"],
    None: ["thing", "item", "bundle", "spare part", "kit"],
}
DIGITAL = {"digital-goods", "software", "gift-cards", "services"}
ADJECTIVES = [
    "vintage", "used", "new", "refurbished", "compact", "wireless", "premium", "cheap",
    "rare", "original", "handmade", "large", "small", "black", "white", "sealed",
]  # fmt: skip
QUALIFIERS = [
    "wanted", "needed", "in good condition", "for a student", "with warranty",
    "urgently", "for a gift", "for the office", "with original box", "any brand",
]  # fmt: skip
SENTENCES = [
    "Looking for a {adj} {noun}, {qual}.",
    "Condition should be good or better; small scratches are fine.",
    "Original packaging preferred but not required.",
    "Payment in {currency} through escrow once you accept.",
    "Fast delivery appreciated, tracking number please.",
    "Please include photos of the actual item in your offer.",
    "I can wait a couple of weeks for the right {noun}.",
    "Happy to pay a little more for a {adj} one.",
    "Must work out of the box, no repairs.",
    "Open to similar models if the price is right.",
]
CITIES = [
    ("Berlin", "DE"), ("Lisbon", "PT"), ("Oslo", "NO"), ("Austin", "US"),
    ("Lyon", "FR"), ("Krakow", "PL"), ("Osaka", "JP"), ("Toronto", "CA"),
]  # fmt: skip
CURRENCIES = (["USDC"] * 11) + (["USDT"] * 5) + (["DAI"] * 2) + (["ETH"] * 2)
# The share of requests not open, by state: about 10 % in all.
OTHER_STATES = {
    "draft": 2.5,
    "expired": 2.5,
    "cancelled": 1.5,
    "accepted": 1.0,
    "funded": 1.0,
    "completed": 1.5,
}
CENT = Decimal("0.01")


@dataclass
class Seeded:
    requests: int
    open_requests: int
    offers: int
    live_offers: int
    categories: int
    users: int
    seconds: float
    statuses: dict[str, int]


def _budget(rng: random.Random, currency: str) -> tuple[Decimal | None, Decimal | None]:
    shape = rng.random()
    if shape < 0.12:
        return None, None
    high = Decimal(str(round(rng.lognormvariate(5, 1.1), 2))).quantize(CENT) + 1
    low = (high * Decimal(str(round(rng.uniform(0.4, 0.9), 2)))).quantize(CENT)
    if currency == "ETH":  # amounts in ETH, not dollars
        high = (high / 3000).quantize(Decimal("0.0001")) or Decimal("0.0001")
        low = (low / 3000).quantize(Decimal("0.0001"))
    if shape < 0.27:
        return None, high
    return low, high


def _request_row(
    rng: random.Random,
    now: datetime,
    status: str,
    buyer: uuid.UUID,
    category: Category | None,
) -> dict[str, Any]:
    slug = category.slug if category else None
    noun, adj, qual = rng.choice(NOUNS[slug]), rng.choice(ADJECTIVES), rng.choice(QUALIFIERS)
    currency = rng.choice(CURRENCIES)
    words = {"adj": rng.choice(ADJECTIVES), "noun": noun, "qual": qual, "currency": currency}
    picked = [SENTENCES[0], *rng.sample(SENTENCES[1:], rng.randint(1, 4))]
    low, high = _budget(rng, currency)
    created = now - timedelta(seconds=rng.uniform(600, 30 * 86400))
    digital = slug in DIGITAL or rng.random() < 0.05
    city, country = rng.choice(CITIES)
    address = {"fullName": "Bench Buyer", "line1": "1 Test Street", "city": city,
               "postalCode": "10115", "country": country}  # fmt: skip
    published = None if status == "draft" else created + timedelta(minutes=rng.randint(0, 90))
    if status == "open":
        expires = now + timedelta(seconds=rng.uniform(3600, 30 * 86400))
    elif status == "draft":
        expires = None
    else:
        expires = created + timedelta(days=rng.randint(1, 14))
        expires = min(expires, now - timedelta(minutes=5)) if status == "expired" else expires
    title = f"{adj.capitalize()} {noun} {qual}"
    description = " ".join(s.format(**words) for s in picked)
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "buyer_id": buyer,
        "title": title,
        "description": description,
        # Core inserts skip the model's listener: the search terms are written here.
        "search_text": document(title, description),
        "category_id": category.id if category else None,
        "quantity": rng.choice([1, 1, 1, 1, 2, 3]),
        "budget_min": low,
        "budget_max": high,
        "currency": currency,
        "status": status,
        "is_digital": digital,
        "delivery_address": None if digital else address,
        "attachments": [],
        "expires_at": expires,
        "published_at": published,
        "created_at": created,
        "updated_at": published or created,
        "completed_at": now - timedelta(days=1) if status == "completed" else None,
    }


def _offer_row(
    rng: random.Random, request: dict[str, Any], seller: uuid.UUID, status: str
) -> dict[str, Any]:
    ceiling = request["budget_max"] or Decimal("100")
    price = max(CENT, (ceiling * Decimal(str(round(rng.uniform(0.6, 1.1), 2)))).quantize(CENT))
    created = request["published_at"] or request["created_at"]
    created = created + timedelta(minutes=rng.randint(5, 3000))
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "request_id": request["id"],
        "seller_id": seller,
        "price": price,
        "currency": request["currency"],
        "delivery_days": rng.choice([2, 3, 5, 7, 14]),
        "message": "Can ship this week, item as described.",
        "status": status,
        "expires_at": request["expires_at"],
        "created_at": created,
        "updated_at": created,
    }


def _users(rng: random.Random, now: datetime) -> tuple[list[dict[str, Any]], int]:
    rows = []
    for n in range(BUYERS + SELLERS):
        seller = n >= BUYERS
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "email": f"bench-{'seller' if seller else 'buyer'}-{n}@example.com",
                "name": f"Bench {'Seller' if seller else 'Buyer'} {n}",
                "roles": ["buyer", "seller"] if seller else ["buyer"],
                "created_at": now - timedelta(days=60),
                "updated_at": now - timedelta(days=60),
            }
        )
    return rows, BUYERS


async def _insert(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.execute(sa.insert(table), rows[start : start + CHUNK])


async def seed(db: Database, requests: int, offers: int) -> Seeded:
    """Insert the data set into an empty, migrated database; ANALYZE on PostgreSQL."""
    rng = random.Random(SEED)
    started = time.perf_counter()
    now = utcnow()
    users, buyers = _users(rng, now)
    buyer_ids = [u["id"] for u in users[:buyers]]
    seller_ids = [u["id"] for u in users[buyers:]]
    states = ["open", *OTHER_STATES]
    weights = [100 - sum(OTHER_STATES.values()), *OTHER_STATES.values()]
    async with db.transaction() as session:
        await seed_categories(session)
        categories = list((await session.execute(sa.select(Category))).scalars())
        # Leaves and broad parents alike; a few requests have no category.
        picks: list[Category | None] = [*categories, None]
        pick_weights = [3.0] * len(categories) + [0.5]
        request_rows = [
            _request_row(
                rng,
                now,
                rng.choices(states, weights)[0],
                rng.choice(buyer_ids),
                rng.choices(picks, pick_weights)[0],
            )
            for _ in range(requests)
        ]
        offer_rows = _offers(rng, request_rows, seller_ids, offers)
        accepted = {o["request_id"]: o for o in offer_rows if o["status"] == "accepted"}
        for row in request_rows:
            if row["id"] in accepted:
                row["accepted_offer_id"] = accepted[row["id"]]["id"]
                row["locked_price"] = accepted[row["id"]]["price"]
            else:
                row["accepted_offer_id"] = row["locked_price"] = None
        await _insert(session, User.__table__, users)
        await _insert(session, PurchaseRequest.__table__, request_rows)
        await _insert(session, SellerOffer.__table__, offer_rows)
    # Fresh planner statistics, as PostgreSQL's autovacuum or Bazaar's hourly
    # `ops.sqlite_optimize` sweep would gather them some time after a load.
    async with db.engine.begin() as conn:
        statements = ("ANALYZE",) if db.backend == "postgresql" else SQLITE_OPTIMIZE
        for statement in statements:
            await conn.execute(sa.text(statement))
    statuses = Counter(r["status"] for r in request_rows)
    return Seeded(
        requests=len(request_rows),
        open_requests=statuses["open"],
        offers=len(offer_rows),
        live_offers=sum(o["status"] in ("pending", "accepted") for o in offer_rows),
        categories=len(categories),
        users=len(users),
        seconds=time.perf_counter() - started,
        statuses=dict(statuses.most_common()),
    )


def _offers(
    rng: random.Random, requests: list[dict[str, Any]], sellers: list[uuid.UUID], total: int
) -> list[dict[str, Any]]:
    """`total` offers: one accepted offer per accepted/funded/completed request, the rest
    on open requests with a long tail (a few requests draw many offers, most none)."""
    rows = []
    for request in requests:
        if request["status"] in ("accepted", "funded", "completed"):
            rows.append(_offer_row(rng, request, rng.choice(sellers), "accepted"))
    open_requests = [r for r in requests if r["status"] == "open"]
    cumulative = list(itertools.accumulate(rng.paretovariate(1.5) for _ in open_requests))
    offered: dict[int, set[uuid.UUID]] = {}
    while len(rows) < total:
        for index in rng.choices(range(len(open_requests)), cum_weights=cumulative, k=100):
            # One live offer per seller and request (the partial unique index).
            taken = offered.setdefault(index, set())
            if len(taken) == len(sellers) or len(rows) >= total:
                continue
            seller = rng.choice([s for s in sellers if s not in taken])
            taken.add(seller)
            status = rng.choices(["pending", "rejected", "withdrawn", "expired"], [85, 5, 6, 4])[0]
            rows.append(_offer_row(rng, open_requests[index], seller, status))
    return rows
