"""Helpers shared by the safety tests (this module holds no tests)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.models import Payment, PaymentEvent
from bazaar.payments.safety import rules
from tests.fixtures.payments import BUYER_WALLET, fund

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
    return await fund(db, payment_id, amount, sender=sender, now=now, settings=settings)


async def events(db: Database, payment_id: uuid.UUID) -> list[tuple[str | None, str, str]]:
    async with db.session(False) as session:
        stmt = (
            sa.select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.created_at, PaymentEvent.id)
        )
        return [(e.from_status, e.to_status, e.cause) for e in (await session.scalars(stmt))]
