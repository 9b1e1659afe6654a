"""The state table of SPEC §4 through `transition()`: every edge is allowed for its roles,
refused (403) for every other role and for the wrong party, and every move the table does
not list is refused (409), final states included. Two racing movers: exactly one wins."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import AppError
from bazaar.marketplace.requests import service, state
from bazaar.models import Job, PurchaseRequest, RequestHistory, SellerOffer, User

EDGES = sorted(state.TRANSITIONS)
# States with a deal: an accepted offer whose seller is the `seller` party.
WITH_DEAL = {"accepted", "funded", "delivered", "disputed", "completed", "refunded", "split"}


@dataclass
class World:
    request_id: uuid.UUID
    users: dict[str, uuid.UUID]  # role -> user id ("stranger" holds every role but no tie)


async def make_world(db: Database, status: str) -> World:
    async with db.session() as session:
        users = {
            "buyer": User(email=f"b-{uuid.uuid4().hex}@x.io", roles=["buyer"]),
            "seller": User(email=f"s-{uuid.uuid4().hex}@x.io", roles=["seller"]),
            "admin": User(email=f"a-{uuid.uuid4().hex}@x.io", roles=["admin"]),
            "resolver": User(email=f"r-{uuid.uuid4().hex}@x.io", roles=["resolver"]),
            "stranger": User(email=f"x-{uuid.uuid4().hex}@x.io", roles=["buyer", "seller"]),
        }
        session.add_all(users.values())
        await session.flush()
        request = PurchaseRequest(
            buyer_id=users["buyer"].id, title="Walnut desk", status=status, is_digital=True
        )
        session.add(request)
        await session.flush()
        if status in WITH_DEAL:
            offer = SellerOffer(
                request_id=request.id,
                seller_id=users["seller"].id,
                price=Decimal("300"),
                status="accepted",
            )
            session.add(offer)
            await session.flush()
            request.accepted_offer_id = offer.id
        await session.commit()
        return World(request.id, {k: u.id for k, u in users.items()})


async def attempt(
    db: Database, world: World, to: str, role: str, *, who: str | None = None, force: bool = False
) -> AppError | None:
    """Run transition() as `who` (default: the user of `role`; nobody for system)."""
    who = who if who is not None else role
    async with db.session() as session:
        request = await session.get_one(PurchaseRequest, world.request_id)
        actor = None if who == "system" else await session.get_one(User, world.users[who])
        try:
            await service.transition(
                session, request, to, actor=actor, role=role, reason=f"{role} says so", force=force
            )
        except AppError as exc:
            await session.rollback()
            return exc
        await session.commit()
    return None


async def history(db: Database, request_id: uuid.UUID) -> list[RequestHistory]:
    async with db.session(False) as session:
        stmt = sa.select(RequestHistory).where(RequestHistory.request_id == request_id)
        return list((await session.execute(stmt)).scalars())


async def status_of(db: Database, request_id: uuid.UUID) -> str:
    async with db.session(False) as session:
        return (await session.get_one(PurchaseRequest, request_id)).status


async def queued(db: Database, kind: str) -> list[dict[str, object]]:
    async with db.session(False) as session:
        stmt = sa.select(Job.payload).where(Job.kind == kind)
        return list((await session.execute(stmt)).scalars())


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: f"{e[0]}->{e[1]}")
async def test_each_allowed_role_makes_the_move(db: Database, edge: tuple[str, str]) -> None:
    from_status, to_status = edge
    rule = state.TRANSITIONS[edge]
    for role in sorted(rule.roles):
        world = await make_world(db, from_status)
        assert await attempt(db, world, to_status, role) is None, role
        assert await status_of(db, world.request_id) == to_status
        [entry] = await history(db, world.request_id)
        actor = None if role == "system" else world.users[role]
        assert (entry.actor_id, entry.actor_role) == (actor, role)
        assert (entry.from_status, entry.to_status) == (from_status, to_status)
        assert entry.reason == f"{role} says so"
        # The parties other than the actor are told, with the edge's notification type.
        parties = {world.users["buyer"]} | (
            {world.users["seller"]} if from_status in WITH_DEAL else set()
        )
        told = {
            (p["userId"], p["type"])
            for p in await queued(db, "notification.deliver")
            if p["data"]["requestId"] == str(world.request_id)  # type: ignore[index]
        }
        assert told == {(str(p), rule.notice) for p in parties - {actor}}
        events = await queued(db, "realtime.emit")
        room = f"request:{world.request_id}"
        assert [e["event"] for e in events if e["room"] == room] == ["request:updated"]


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: f"{e[0]}->{e[1]}")
async def test_every_other_role_is_refused(db: Database, edge: tuple[str, str]) -> None:
    from_status, to_status = edge
    world = await make_world(db, from_status)
    for role in sorted(set(state.ROLES) - state.TRANSITIONS[edge].roles):
        error = await attempt(db, world, to_status, role)
        assert error is not None and error.status_code == 403, role
    assert await status_of(db, world.request_id) == from_status
    assert await history(db, world.request_id) == []


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: f"{e[0]}->{e[1]}")
async def test_the_wrong_party_in_an_allowed_role_is_refused(
    db: Database, edge: tuple[str, str]
) -> None:
    """Claiming a role is not enough: a stranger is not the buyer or the seller, a user
    is not the system, and a user without the role is not an admin or resolver."""
    from_status, to_status = edge
    world = await make_world(db, from_status)
    for role in sorted(state.TRANSITIONS[edge].roles):
        impostor = "buyer" if role in ("system", "admin", "resolver") else "stranger"
        if role == "buyer":
            impostor = "seller" if from_status in WITH_DEAL else "stranger"
        error = await attempt(db, world, to_status, role, who=impostor)
        assert error is not None and error.status_code == 403, (role, impostor)
    assert await status_of(db, world.request_id) == from_status


@pytest.mark.parametrize("to_status", state.STATUSES)
async def test_moves_the_table_does_not_list_are_409(db: Database, to_status: str) -> None:
    for from_status in state.STATUSES:
        if (from_status, to_status) in state.TRANSITIONS:
            continue
        world = await make_world(db, from_status)
        # Even an admin forcing it: the table is the limit.
        for role, force in (("admin", False), ("admin", True), ("buyer", False)):
            error = await attempt(db, world, to_status, role, force=force)
            assert error is not None, (from_status, to_status)
            assert (error.status_code, error.code) == (409, "INVALID_STATE_TRANSITION")
            assert from_status in error.message and to_status in error.message
        assert await status_of(db, world.request_id) == from_status


def test_final_states_have_no_way_out() -> None:
    assert {"completed", "refunded", "split", "cancelled", "expired"} == state.FINAL
    assert not [edge for edge in state.TRANSITIONS if edge[0] in state.FINAL]


FORCEABLE = [edge for edge in EDGES if state.TRANSITIONS[edge].forceable]


@pytest.mark.parametrize("edge", FORCEABLE, ids=lambda e: f"{e[0]}->{e[1]}")
async def test_admin_force_takes_any_edge_and_only_an_admin_may(
    db: Database, edge: tuple[str, str]
) -> None:
    world = await make_world(db, edge[0])
    error = await attempt(db, world, edge[1], "buyer", force=True)
    assert error is not None and error.status_code == 403
    assert await attempt(db, world, edge[1], "admin", force=True) is None
    [entry] = await history(db, world.request_id)
    assert (entry.actor_id, entry.actor_role) == (world.users["admin"], "admin")


async def test_funding_comes_from_the_chain_and_cannot_be_forced(db: Database) -> None:
    """SPEC §4: `accepted → funded` is true when the payment is held in escrow, which the
    chain says; not even an admin may force it. The system's move still works."""
    assert [e for e in EDGES if not state.TRANSITIONS[e].forceable] == [("accepted", "funded")]
    world = await make_world(db, "accepted")
    error = await attempt(db, world, "funded", "admin", force=True)
    assert error is not None
    assert (error.status_code, error.code) == (409, "TRANSITION_NOT_FORCEABLE")
    assert await status_of(db, world.request_id) == "accepted"
    assert await history(db, world.request_id) == []
    assert await attempt(db, world, "funded", "system") is None


async def test_two_racing_movers_only_one_wins(db: Database) -> None:
    """Both load the open request, both try open → cancelled: one history row, one 409."""
    world = await make_world(db, "open")
    outcomes = await asyncio.gather(
        attempt(db, world, "cancelled", "buyer"), attempt(db, world, "cancelled", "admin")
    )
    errors = [e for e in outcomes if e is not None]
    assert len(errors) == 1 and errors[0].code == "INVALID_STATE_TRANSITION"
    assert len(await history(db, world.request_id)) == 1


async def test_history_row_time_is_the_move_time(db: Database) -> None:
    world = await make_world(db, "draft")
    before = utcnow()
    assert await attempt(db, world, "open", "buyer") is None
    [entry] = await history(db, world.request_id)
    assert before <= entry.created_at <= utcnow()
