"""The steps every movement out of escrow (release, refund, split) shares: resolve the
accounts with the escrow's balance, return the earlier posting for a reused key, refuse a
payment that is over, check the escrow covers the move, and post with what was read."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, rules
from bazaar.payments.ledger.accounts import AccountKey
from bazaar.payments.ledger.posting import Leg, existing, post


@dataclass(frozen=True)
class Outflow:
    """A movement out of escrow, checked and ready to post; `done` is the transaction this
    key already posted for the same request (then nothing more is to be posted)."""

    kind: str
    key: str
    payment_id: uuid.UUID
    request: Mapping[str, Any]
    escrow: AccountKey
    held: Decimal
    resolved: dict[AccountKey, uuid.UUID]
    done: LedgerTransaction | None = None


async def prepare(
    session: AsyncSession,
    payment: Payment,
    *,
    kind: str,
    request: Mapping[str, Any],
    to: Iterable[AccountKey],
    wanted: Decimal | None,
    key: str,
    now: datetime,
    enforcement: bool,
) -> Outflow:
    """Everything before the legs: `held` covers `wanted` (None: anything held). Call it
    with the payment locked."""
    escrow = accounts.escrow(payment)
    resolved = await accounts.resolve(session, [escrow, *to], now, balance_of=escrow, key=key)
    if resolved.key_used:
        found = await existing(session, key, kind=kind, payment_id=payment.id, request=request)
        if found is not None:
            return Outflow(
                kind, key, payment.id, request, escrow, resolved.balance, resolved.ids, found
            )
    rules.refuse_terminal(payment)
    held = await rules.cover(
        session,
        payment,
        held=resolved.balance,
        wanted=wanted,
        move=kind,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    return Outflow(kind, key, payment.id, request, escrow, held, resolved.ids)


async def finish(
    session: AsyncSession,
    out: Outflow,
    *,
    legs: Sequence[Leg],
    meta: Mapping[str, Any],
    cause: str,
    now: datetime,
) -> LedgerTransaction:
    """Post the movement's legs, the escrow's balance as read (no second query)."""
    return await post(
        session,
        kind=out.kind,
        key=out.key,
        cause=cause,
        now=now,
        payment_id=out.payment_id,
        request=out.request,
        legs=legs,
        meta=meta,
        known={out.escrow: out.held},
        resolved=out.resolved,
    )
