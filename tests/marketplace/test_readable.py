"""Each marketplace domain's `readable_statement(viewer)` against its rule, written out
here in Python, for every kind of viewer and every state: the rule lives in the SQL, so
the SQL is what is checked (through the repositories' getters and listers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from bazaar.kit.db import Database
from bazaar.marketplace.offers import repository as offers
from bazaar.marketplace.requests import repository as requests
from bazaar.marketplace.requests import state
from bazaar.marketplace.templates import repository as templates
from bazaar.models import PurchaseRequest, RequestTemplate, SellerOffer, Shop, User


@dataclass
class People:
    buyer: User
    seller: User  # offered on every request past draft that `offered` lists
    stranger: User  # a seller who offered on nothing
    admin: User

    def viewers(self) -> dict[str, User | None]:
        return {
            "anonymous": None,
            "buyer": self.buyer,
            "seller": self.seller,
            "stranger": self.stranger,
            "admin": self.admin,
        }


@dataclass
class Market:
    people: People
    requests: list[PurchaseRequest]
    offered: set[uuid.UUID]  # requests the seller offered on
    offers: list[SellerOffer]


@pytest.fixture
async def market(db: Database) -> AsyncIterator[Market]:
    """A request in every status, each past draft twice: once with the seller's offer and
    once without any."""
    async with db.session() as session:
        people = People(
            buyer=User(email=f"b-{uuid.uuid4().hex}@x.io", roles=["buyer"]),
            seller=User(email=f"s-{uuid.uuid4().hex}@x.io", roles=["seller"]),
            stranger=User(email=f"t-{uuid.uuid4().hex}@x.io", roles=["buyer", "seller"]),
            admin=User(email=f"a-{uuid.uuid4().hex}@x.io", roles=["admin"]),
        )
        session.add_all(vars(people).values())
        await session.flush()
        rows: list[PurchaseRequest] = []
        offered: set[uuid.UUID] = set()
        offers_made: list[SellerOffer] = []
        for status in state.STATUSES:
            for with_offer in (False, True) if status != state.DRAFT else (False,):
                request = PurchaseRequest(buyer_id=people.buyer.id, title=status, status=status)
                session.add(request)
                await session.flush()
                rows.append(request)
                if with_offer:
                    offer = SellerOffer(
                        request_id=request.id, seller_id=people.seller.id, price=Decimal("5")
                    )
                    session.add(offer)
                    offers_made.append(offer)
                    offered.add(request.id)
        await session.commit()
    yield Market(people, rows, offered, offers_made)


def may_see_request(market: Market, viewer: User | None, request: PurchaseRequest) -> bool:
    """The rule: drafts their buyer only; open ones everyone; later states the buyer,
    sellers who offered and admins."""
    if viewer is not None and viewer.id == request.buyer_id:
        return True
    if request.status == state.DRAFT:
        return False
    if request.status == state.OPEN:
        return True
    if viewer is None:
        return False
    if viewer.has_role("admin"):
        return True
    return viewer.id == market.people.seller.id and request.id in market.offered


async def test_requests_getter_follows_the_rule(db: Database, market: Market) -> None:
    async with db.session(False) as session:
        for name, viewer in market.people.viewers().items():
            for request in market.requests:
                found = await requests.get_readable(session, request.id, viewer)
                expected = may_see_request(market, viewer, request)
                assert (found is not None) == expected, (name, request.status)
                assert await requests.get_unscoped(session, request.id) is not None


async def test_requests_narrowed_to_a_status_match_the_whole_rule(
    db: Database, market: Market
) -> None:
    """`readable_statement(viewer, status=s)` drops the parts of the rule that cannot
    matter for `s` (for the list's indexes): it must select exactly what the whole rule
    selects for that status."""
    async with db.session(False) as session:
        for name, viewer in market.people.viewers().items():
            whole = requests.readable_statement(viewer)
            for status in state.STATUSES:
                narrowed = requests.readable_statement(viewer, status=status)
                got = set((await session.execute(narrowed)).scalars())
                want = set(
                    (await session.execute(whole.where(PurchaseRequest.status == status))).scalars()
                )
                assert {r.id for r in got} == {r.id for r in want}, (name, status)
                expected = {
                    r.id
                    for r in market.requests
                    if r.status == status and may_see_request(market, viewer, r)
                }
                assert {r.id for r in got} == expected, (name, status)


async def test_offers_are_their_sellers_their_buyers_and_admins(
    db: Database, market: Market
) -> None:
    sees = {"buyer": True, "seller": True, "stranger": False, "admin": True}
    async with db.session(False) as session:
        anonymous = await session.execute(offers.readable_statement(None))
        assert list(anonymous.scalars()) == []
        for name, viewer in market.people.viewers().items():
            if viewer is None:
                continue
            for offer in market.offers:
                found = await offers.get_readable(session, offer.id, viewer)
                assert (found is not None) == sees[name], name


async def test_templates_active_for_anyone_inactive_for_their_owner(db: Database) -> None:
    async with db.session() as session:
        owner = User(email=f"o-{uuid.uuid4().hex}@x.io", roles=["seller"])
        other = User(email=f"x-{uuid.uuid4().hex}@x.io", roles=["buyer", "seller"])
        session.add_all([owner, other])
        await session.flush()
        shop = Shop(owner_id=owner.id, name="Owl", slug=f"owl-{uuid.uuid4().hex[:6]}")
        session.add(shop)
        await session.flush()
        active, inactive = (
            RequestTemplate(
                shop_id=shop.id,
                seller_id=owner.id,
                title=f"Notebook {n}",
                price=Decimal("3"),
                is_active=is_active,
            )
            for n, is_active in enumerate((True, False))
        )
        session.add_all([active, inactive])
        await session.commit()
    async with db.session(False) as session:
        for viewer, sees_inactive in ((None, False), (other, False), (owner, True)):
            assert await templates.get_readable(session, str(active.id), viewer) is not None
            found = await templates.get_readable(session, str(inactive.id), viewer)
            assert (found is not None) == sees_inactive
        # Changes: the owner's own only, active or not.
        for template in (active, inactive):
            assert await templates.get_owned(session, str(template.id), other) is None
            assert await templates.get_owned(session, str(template.id), owner) is not None
