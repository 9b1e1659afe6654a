"""Two buyers' clicks at once: accepting two different offers on one request concurrently
gives exactly one deal — one 200, one 409, one payment, the other offer superseded."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import Payment, RequestHistory
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    accept,
    get_offer,
    get_request,
    payments_of,
    post_offer,
    post_request,
)

ROUNDS = 5


async def test_concurrent_accepts_of_different_offers(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    alice = await make_user(["seller"])
    bob = await make_user(["seller"])
    for _ in range(ROUNDS):
        request = await post_request(client, buyer)
        first = await post_offer(client, alice, request["id"], price="100")
        second = await post_offer(client, bob, request["id"], price="90")

        responses = await asyncio.gather(
            accept(client, buyer, first["id"]), accept(client, buyer, second["id"])
        )

        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409], [r.text for r in responses]
        loser_response = next(r for r in responses if r.status_code == 409)
        assert loser_response.json()["error"]["code"] == "INVALID_STATE_TRANSITION"
        winner = first if responses[0].status_code == 200 else second
        loser = second if winner is first else first

        row = await get_request(db, request["id"])
        assert row.status == "accepted"
        assert row.accepted_offer_id == uuid.UUID(winner["id"])
        assert (await get_offer(db, winner["id"])).status == "accepted"
        assert (await get_offer(db, loser["id"])).status == "superseded"
        [payment] = await payments_of(db, request["id"])
        assert payment.offer_id == uuid.UUID(winner["id"])
        async with db.session(False) as session:
            moves = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(RequestHistory)
                    .where(
                        RequestHistory.request_id == row.id,
                        RequestHistory.to_status == "accepted",
                    )
                )
            ).scalar_one()
        assert moves == 1

    async with db.session(False) as session:
        total = (await session.execute(sa.select(sa.func.count()).select_from(Payment))).scalar()
    assert total == ROUNDS
