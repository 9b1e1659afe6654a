"""Fund: money confirmed on chain enters the escrow (external → escrow_held)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments import status
from bazaar.payments.ledger import accounts, rules
from bazaar.payments.ledger.errors import PaymentTerminal
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import FUND, Leg, existing, fingerprint, post

# Money that arrives after the escrow was paid out would sit in a settled payment; it is
# refused here (the caller records the transfer for a manual refund). A payment that
# expired or was cancelled may still be funded: it is paid late, and refundable.
SETTLED = frozenset({status.RELEASED, status.REFUNDED, status.SPLIT})


async def fund(
    session: AsyncSession,
    payment: Payment,
    amount: Decimal,
    *,
    key: str,
    cause: str,
    now: datetime,
    settings: Settings | None = None,
    decimals: int | None = None,
) -> LedgerTransaction:
    """Post `amount` (token units) into the payment's escrow; the same `key` again returns
    the first posting."""
    payment = await ensure_locked(session, payment)
    places = rules.decimals_of(payment, settings, decimals)
    value = rules.checked_amount(amount, places)
    request = fingerprint(amount=value)
    asset = accounts.asset_of(payment)
    external, escrow = accounts.external(asset), accounts.escrow(payment)
    resolved = await accounts.resolve(session, [external, escrow], now, key=key)
    if resolved.key_used:
        found = await existing(session, key, kind=FUND, payment_id=payment.id, request=request)
        if found is not None:
            return found
    if payment.status in SETTLED:
        raise PaymentTerminal(details={"status": payment.status})
    return await post(
        session,
        kind=FUND,
        key=key,
        cause=cause,
        now=now,
        payment_id=payment.id,
        request=request,
        legs=[Leg(external, -value), Leg(escrow, value)],
        resolved=resolved.ids,
    )
