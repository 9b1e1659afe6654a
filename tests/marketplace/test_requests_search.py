"""Listing requests: full-text search, each filter, sorting, paging, who sees what, and a
bounded number of SQL statements per page."""

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

from bazaar.kit.db import Database, utcnow
from bazaar.kit.migrations import alembic_config, upgrade
from bazaar.marketplace.requests.search import search_clause
from bazaar.models import PurchaseRequest, SellerOffer, User
from tests.conftest import PG_ADMIN_URL, _pg_exec, base_settings
from tests.fixtures.sql import count_statements
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import REQUESTS, accepted_deal, post_request

if TYPE_CHECKING:
    from tests.fixtures.marketplace import MakeCategory


async def seed(db: Database, buyer: Account | uuid.UUID, **fields: Any) -> uuid.UUID:
    """An open request written straight to the table (the search triggers still fire)."""
    now = utcnow()
    values: dict[str, Any] = {
        "title": "Something",
        "description": "",
        "status": "open",
        "is_digital": True,
        "published_at": now,
        "expires_at": now + timedelta(days=3),
        "currency": "USDC",
    }
    values.update(fields)
    buyer_id = buyer.id if isinstance(buyer, Account) else buyer
    async with db.session() as session:
        request = PurchaseRequest(buyer_id=buyer_id, **values)
        session.add(request)
        await session.commit()
        return request.id


async def ids(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> list[str]:
    r = await client.get(REQUESTS, params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["data"]["items"]]


async def test_search_matches_words_in_title_and_description(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    camera = await seed(db, buyer, title="Vintage film camera", description="Rangefinder, 35mm")
    bag = await seed(db, buyer, title="Leather bag", description="Fits a small camera and lenses")
    boots = await seed(db, buyer, title="Hiking boots", description="Size 43")
    assert set(await ids(client, q="camera")) == {str(camera), str(bag)}
    assert set(await ids(client, q="cameras")) == {str(camera), str(bag)}  # stemming
    assert await ids(client, q="film camera") == [str(camera)]  # every word must match
    assert await ids(client, q="BOOTS") == [str(boots)]
    assert await ids(client, q="fitting") == [str(bag)]  # "Fits" in the description
    assert await ids(client, q="submarine") == []
    assert len(await ids(client, q="   ")) == 3  # blank search = no search


# The same cases on both databases: one meaning of a search (kit/textsearch.py).
SAME_EVERYWHERE = [
    ("radio", {"radio", "radio_clock"}),
    ("-radio", {"radio", "radio_clock"}),  # no exclusion: `-` separates words
    ("clock -radio", {"radio_clock"}),
    ("radio or clock", set()),  # `or` is a word like any other, and no request has it
    ("FM or radio", {"radio"}),  # ... which "FM or AM" has
    ("clock radio", {"radio_clock"}),  # every word, in any order
    ('"radio clock"', {"radio_clock"}),  # quotes are no phrase
    ('"clock radio"', {"radio_clock"}),
    ("the", {"the_lamp"}),  # no stop words: `the` is a word
    ("lamps", {"the_lamp"}),  # English stems: lamps = lamp
    ("rad", set()),  # whole stems, never a prefix
    ("RADIOS", {"radio", "radio_clock"}),
    ("câmera", {"camera"}),  # accents and case are ignored
    ("CAMERA", {"camera"}),
    ("tv", {"tv"}),
    ("２５６gb", {"tv"}),  # NFKC: full-width digits are digits
    ("NEAR(radio clock)", set()),  # NEAR is a word too, and no request has it
    ("(radio) AND (clock)", {"radio_clock"}),  # `and` is a word its description has
    ("radio*", {"radio", "radio_clock"}),
    ("!!!", set()),  # no words: nothing
]


@pytest.mark.parametrize(("q", "expected"), SAME_EVERYWHERE)
async def test_search_means_the_same_on_every_database(
    client: httpx.AsyncClient, db: Database, buyer: Account, q: str, expected: set[str]
) -> None:
    made = {
        "radio": await seed(db, buyer, title="Portable radio", description="FM or AM"),
        "radio_clock": await seed(db, buyer, title="Clock with alarm", description="and a radio"),
        "the_lamp": await seed(db, buyer, title="The lamp", description="Brass, 1930s"),
        "camera": await seed(db, buyer, title="Câmera antiga", description=""),
        "tv": await seed(db, buyer, title="TV box", description="256GB storage"),
    }
    names = {str(v): k for k, v in made.items()}
    assert {names[i] for i in await ids(client, q=q)} == expected


async def test_search_follows_edits(client: httpx.AsyncClient, buyer: Account) -> None:
    request = await post_request(client, buyer, title="Oak table")
    assert await ids(client, q="oak") == [request["id"]]
    await client.patch(
        f"{REQUESTS}/{request['id']}", json={"title": "Pine table"}, headers=buyer.headers
    )
    assert await ids(client, q="oak") == []
    assert await ids(client, q="pine") == [request["id"]]


NASTY = [
    '"',
    "'",
    "*",
    'camera"',
    "NEAR(camera film)",
    "camera OR",
    "OR AND NOT",
    "-",
    "-camera",
    "^camera",
    "title:camera",
    "(",
    ")",
    "\\",
    "%_%",
    "📷 camera",
    "câmera",
    "a" * 200,
    "' OR 1=1 --",
    "camera & | ! <->",
    ":*",
]


@pytest.mark.parametrize("q", NASTY)
async def test_no_search_text_breaks_the_list(
    client: httpx.AsyncClient, db: Database, buyer: Account, q: str
) -> None:
    await seed(db, buyer, title="Vintage film camera")
    r = await client.get(REQUESTS, params={"q": q})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True


@pytest.mark.parametrize("q", ["a" * 201, "nul\x00byte"])
async def test_unusable_search_text_is_a_400(client: httpx.AsyncClient, q: str) -> None:
    r = await client.get(REQUESTS, params={"q": q})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_postgres_search_uses_the_gin_index(db: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the GIN expression index exists on PostgreSQL only")
    stmt = sa.select(PurchaseRequest.id).where(search_clause("camera", "postgresql"))
    sql = str(stmt.compile(db.engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with db.engine.connect() as conn:
        await conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in await conn.execute(sa.text(f"EXPLAIN {sql}")))
    assert "ix_purchase_requests_fts" in plan, plan


async def test_public_list_is_open_unexpired_requests(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    visible = await seed(db, buyer)
    await seed(db, buyer, expires_at=utcnow() - timedelta(minutes=1))  # sweep not run yet
    await seed(db, buyer, status="draft", published_at=None)
    accepted, _ = await accepted_deal(client, buyer, seller)
    assert await ids(client) == [str(visible)]
    assert await ids(client, headers=seller.headers) == [str(visible)]
    assert await ids(client, status="accepted") == []
    assert await ids(client, status="accepted", headers=seller.headers) == []
    assert await ids(client, status="accepted", headers=admin.headers) == [accepted["id"]]
    assert await ids(client, status="draft", headers=admin.headers) == []
    bad = await client.get(REQUESTS, params={"status": "teleported"})
    assert bad.status_code == 400


async def test_mine_lists_own_requests_in_every_state(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    other = await make_user(["buyer"])
    draft = await seed(db, buyer, status="draft", published_at=None)
    expired = await seed(db, buyer, status="expired")
    opened = await seed(db, buyer)
    await seed(db, other)
    assert set(await ids(client, headers=buyer.headers, mine="true")) == {
        str(draft),
        str(expired),
        str(opened),
    }
    assert await ids(client, headers=buyer.headers, mine="true", status="draft") == [str(draft)]
    assert (await client.get(REQUESTS, params={"mine": "true"})).status_code == 401


async def test_category_filter_includes_sub_categories(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_category: MakeCategory
) -> None:
    electronics = await make_category("Electronics")
    phones = await make_category("Phones", parent=electronics)
    android = await make_category("Android", parent=phones)
    books = await make_category("Books")
    in_android = await seed(db, buyer, category_id=android.id)
    in_phones = await seed(db, buyer, category_id=phones.id)
    await seed(db, buyer, category_id=books.id)
    await seed(db, buyer)
    assert set(await ids(client, categoryId=str(electronics.id))) == {
        str(in_android),
        str(in_phones),
    }
    assert await ids(client, categoryId=android.slug) == [str(in_android)]
    assert await ids(client, categoryId=str(uuid.uuid4())) == []


async def test_budget_filter_keeps_overlapping_ranges(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    def budget(low: str | None, high: str | None) -> dict[str, Any]:
        return {
            "budget_min": Decimal(low) if low else None,
            "budget_max": Decimal(high) if high else None,
        }

    r10_20 = await seed(db, buyer, **budget("10", "20"))
    r30_50 = await seed(db, buyer, **budget("30", "50"))
    up_to_40 = await seed(db, buyer, **budget(None, "40"))
    from_60 = await seed(db, buyer, **budget("60", None))
    await seed(db, buyer)  # no budget: not matched by a budget filter
    got = set(await ids(client, budgetMin="25", budgetMax="35"))
    assert got == {str(r30_50), str(up_to_40)}
    assert set(await ids(client, budgetMin="45")) == {str(r30_50), str(from_60)}
    assert set(await ids(client, budgetMax="10")) == {str(r10_20), str(up_to_40)}
    # Exact at 18 decimals: 20.000000000000000001 is above the [10, 20] range.
    assert str(r10_20) not in await ids(client, budgetMin="20.000000000000000001")
    for bad in ({"budgetMin": "abc"}, {"budgetMin": "5", "budgetMax": "1"}, {"budgetMax": "-2"}):
        assert (await client.get(REQUESTS, params=bad)).status_code == 400


async def test_currency_filter(client: httpx.AsyncClient, db: Database, buyer: Account) -> None:
    dai = await seed(db, buyer, currency="DAI")
    await seed(db, buyer, currency="USDC")
    assert await ids(client, currency="dai") == [str(dai)]
    assert (await client.get(REQUESTS, params={"currency": "us\x00dc"})).status_code == 400


async def test_sorting(client: httpx.AsyncClient, db: Database, buyer: Account) -> None:
    now = utcnow()
    cheap = await seed(
        db,
        buyer,
        budget_min=Decimal("5"),
        budget_max=Decimal("9"),
        published_at=now - timedelta(hours=3),
        expires_at=now + timedelta(days=5),
    )
    mid = await seed(
        db,
        buyer,
        budget_min=Decimal("50"),
        budget_max=Decimal("100"),
        published_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=2),
    )
    rich = await seed(
        db,
        buyer,
        budget_min=Decimal("1000"),
        budget_max=Decimal("2000.5"),
        published_at=now - timedelta(hours=2),
        expires_at=now + timedelta(days=1),
    )
    none = await seed(db, buyer, published_at=now - timedelta(hours=4), expires_at=None)
    expected = {
        "newest": [mid, rich, cheap, none],
        "budget_asc": [cheap, mid, rich, none],
        "budget_desc": [rich, mid, cheap, none],
        "ending_soon": [mid, rich, cheap, none],
    }
    for sort, order in expected.items():
        assert await ids(client, sort=sort) == [str(i) for i in order], sort
    assert (await client.get(REQUESTS, params={"sort": "random"})).status_code == 400


async def test_pagination(client: httpx.AsyncClient, db: Database, buyer: Account) -> None:
    for n in range(5):
        await seed(db, buyer, title=f"Request {n}", published_at=utcnow() - timedelta(minutes=n))
    r = await client.get(REQUESTS, params={"limit": 2, "page": 3})
    data = r.json()["data"]
    assert data["pagination"] == {"page": 3, "limit": 2, "total": 5, "pages": 3}
    assert [item["title"] for item in data["items"]] == ["Request 4"]
    assert (await client.get(REQUESTS, params={"limit": 101})).status_code == 400


async def test_a_page_costs_the_same_few_queries_whatever_its_size(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    sellers = [await make_user(["seller"]) for _ in range(3)]
    async with db.session() as session:
        for n in range(60):
            request = PurchaseRequest(
                buyer_id=buyer.id,
                title=f"Lamp {n}",
                status="open",
                is_digital=True,
                published_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
            )
            session.add(request)
            await session.flush()
            for seller in sellers[: n % 4]:
                session.add(
                    SellerOffer(request_id=request.id, seller_id=seller.id, price=Decimal("9"))
                )
        await session.commit()

    async def run(limit: int) -> tuple[list[str], dict[str, Any]]:
        with count_statements(db) as statements:
            r = await client.get(
                REQUESTS, params={"limit": limit, "q": "lamp"}, headers=buyer.headers
            )
        assert r.status_code == 200
        return statements, r.json()["data"]

    small, small_page = await run(5)
    large, large_page = await run(50)
    assert len(small) == len(large), large
    # user + count + page + one grouped offer count
    assert len(large) == 4, large
    assert len(large_page["items"]) == 50 and large_page["pagination"]["total"] == 60
    counts = {item["title"]: item["offerCount"] for item in large_page["items"]}
    assert all(counts[f"Lamp {n}"] == n % 4 for n in range(60) if f"Lamp {n}" in counts)
    assert len(small_page["items"]) == 5


async def test_list_items_hide_the_street_address(
    client: httpx.AsyncClient, db: Database, buyer: Account
) -> None:
    address = {"city": "Oslo", "country": "NO", "line1": "Karl Johans gate 1"}
    await seed(db, buyer, is_digital=False, delivery_address=address)
    [item] = (await client.get(REQUESTS)).json()["data"]["items"]
    assert item["shipsTo"] == {"city": "Oslo", "country": "NO"}
    assert "deliveryAddress" not in item


async def test_the_search_migration_indexes_existing_requests_and_goes_back(
    tmp_path: Path, backend: str
) -> None:
    """Migration 0007 fills `search_text` for requests that exist, and its downgrade
    restores the previous search index (then upgrading again fills it again)."""
    extra: dict[str, Any] = {}
    name = f"bazaar_mig_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        await asyncio.to_thread(_pg_exec, f'CREATE DATABASE "{name}"')
        extra["pg_url"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    settings = base_settings(tmp_path, **extra)
    config = alembic_config()
    config.attributes["settings"] = settings
    database = Database(settings)
    try:
        await asyncio.to_thread(upgrade, settings)
        async with database.session() as session:
            user = User(email="m@example.com", roles=["buyer"])
            session.add(user)
            await session.flush()
            session.add(PurchaseRequest(buyer_id=user.id, title="Brass lamps", status="open"))
            await session.commit()

        async def found(q: str) -> int:
            async with database.session(False) as session:
                stmt = sa.select(sa.func.count()).where(search_clause(q, backend))
                return int((await session.execute(stmt.select_from(PurchaseRequest))).scalar_one())

        assert await found("lamp") == 1
        await database.dispose()
        await asyncio.to_thread(command.downgrade, config, "0006_payment_token_contract")
        await asyncio.to_thread(upgrade, settings)
        assert await found("brass lamp") == 1
        assert await found("lamps copper") == 0
    finally:
        await database.dispose()
        if backend == "postgresql":
            await asyncio.to_thread(_pg_exec, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_stemmer_is_porters() -> None:
    """kit/textsearch.stem is the Porter stemmer SQLite's FTS5 `porter` tokenizer uses (the
    one SQLite searched with before), checked word by word on the project's documentation."""
    import re
    import sqlite3

    from bazaar.kit.textsearch import stem

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(docs.glob("*.md")))
    vocabulary = sorted({w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2})
    assert len(vocabulary) > 1000
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter ascii')")
    con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    con.execute("INSERT INTO t VALUES (?)", (" ".join(vocabulary),))
    sqlite_stems = {row[0] for row in con.execute("SELECT term FROM v")}
    assert {stem(w) for w in vocabulary} == sqlite_stems
