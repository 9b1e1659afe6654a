"""Helpers shared by the safety tests (this module holds no tests)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import Payment, PaymentEvent, Payout
from bazaar.payments import escrow, ledger
from bazaar.payments.safety import rules
from tests.fixtures.payments import BUYER_WALLET, get_payment

ADMIN_PAYMENTS = "/api/admin/payments"
THRESHOLDS = "/api/admin/settings/confirmation-thresholds"


def safety_settings(base: Settings, **rules_given: Any) -> Settings:
    """The suite's settings with AML rules, parsed as Settings parses the environment."""
    update: dict[str, Any] = {}
    if "denylist" in rules_given:
        update["transaction_safety_denylist"] = rules.parse_denylist(rules_given["denylist"])
    if "max_payment" in rules_given:
        update["transaction_safety_max_payment"] = rules.parse_limits(rules_given["max_payment"])
    if "daily" in rules_given:
        update["transaction_safety_daily_user_limit"] = rules.parse_limits(rules_given["daily"])
    return base.model_copy(update=update)


async def fund_with(
    db: Database,
    settings: Settings,
    payment_id: uuid.UUID,
    amount: str | Decimal | None = None,
    *,
    sender: str = BUYER_WALLET,
    now: datetime | None = None,
) -> Payment:
    """What the chain code does for a confirmed transfer (tests/fixtures/payments.fund),
    with the settings (and so the safety rules) of the test."""
    now = now or utcnow()
    async with db.transaction() as session:
        payment, _request = await escrow.lock(session, payment_id)
        value = Decimal(str(amount)) if amount is not None else payment.amount - payment.amount_paid
        await ledger.fund(
            session,
            payment,
            value,
            key=f"test-fund:{uuid.uuid4()}",
            cause="test.fund",
            now=now,
            settings=settings,
        )
        payment.amount_paid = payment.amount_paid + value
        payment.sender_address = payment.sender_address or sender
        await escrow.on_funds_confirmed(session, payment, now=now, settings=settings)
    return await get_payment(db, payment_id)


async def events(db: Database, payment_id: uuid.UUID) -> list[tuple[str | None, str, str]]:
    async with db.session(False) as session:
        stmt = (
            sa.select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.created_at, PaymentEvent.id)
        )
        return [(e.from_status, e.to_status, e.cause) for e in (await session.scalars(stmt))]


async def payouts_of(db: Database, payment_id: uuid.UUID) -> list[Payout]:
    async with db.session(False) as session:
        stmt = sa.select(Payout).where(Payout.payment_id == payment_id).order_by(Payout.kind)
        return list(await session.scalars(stmt))
