"""Helpers shared by the payout tests (this module holds no tests)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerTransaction, Payout
from bazaar.payments import escrow
from tests.fixtures.payments import Deal, payouts_of

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


async def payout_row(db: Database, payout_id: uuid.UUID) -> Payout:
    async with db.session(False) as session:
        return await session.get_one(Payout, payout_id, populate_existing=True)


async def ledger_payouts(db: Database, payment_id: uuid.UUID) -> list[LedgerTransaction]:
    async with db.session(False) as session:
        stmt = sa.select(LedgerTransaction).where(
            LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == "payout"
        )
        return list(await session.scalars(stmt))
