"""Helpers shared by the payout tests (this module holds no tests)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerTransaction, Payout
from bazaar.payments import escrow
from tests.fixtures.payments import Deal, Deliver, MakeDeal, payouts_of
from tests.payments.safety.support import fund_with

PAYOUTS = "/api/admin/payouts"


async def release(db: Database, settings: Settings, deal: Deal) -> list[Payout]:
    """Release the deal's held payment (service level); its payouts."""
    async with db.transaction() as session:
        await escrow.release(
            session,
            deal.payment_id,
            actor_id=None,
            key=f"test-release:{uuid.uuid4()}",
            now=utcnow(),
            settings=settings,
            cause="test.release",
        )
    return await payouts_of(db, deal.payment_id)


async def released(
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
    price: str = "100",
    **deal: Any,
) -> tuple[Deal, Payout]:
    """A deal funded, delivered and released (`deal`: more of make_deal's arguments); its
    one payout, to the seller."""
    made = await make_deal(price=price, **deal)
    await fund_with(db, settings, made.payment_id)
    await deliver(made)
    [payout] = await release(db, settings, made)
    return made, payout


async def payout_row(db: Database, payout_id: uuid.UUID) -> Payout:
    async with db.session(False) as session:
        return await session.get_one(Payout, payout_id, populate_existing=True)


async def ledger_payouts(db: Database, payment_id: uuid.UUID) -> list[LedgerTransaction]:
    async with db.session(False) as session:
        stmt = sa.select(LedgerTransaction).where(
            LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == "payout"
        )
        return list(await session.scalars(stmt))
