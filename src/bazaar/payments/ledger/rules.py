"""What every escrow movement checks before it posts: the token's decimals, a positive
amount within them, a payment not yet over, and the legacy backfill."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import to_decimal
from bazaar.kit.tokens import MAX_DECIMALS, TokenRegistry, build_registry, registry
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments import status
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.errors import (
    InsufficientHeldFunds,
    InvalidLedgerAmount,
    PaymentTerminal,
    TokenUnknown,
)
from bazaar.payments.ledger.posting import FUND, Leg, fingerprint, post

log = structlog.get_logger("bazaar.ledger")

LEGACY_BACKFILL = "legacy.backfill"
_BUILTIN: TokenRegistry | None = None


def decimals_of(
    payment: Payment, settings: Settings | None = None, decimals: int | None = None
) -> int:
    """The token's smallest unit for this payment: `decimals` when given, else the token
    registry's (the deployment's own decimals on the payment's chain, else the token's).

    Without `settings` only the built-in registry is known; a token configured elsewhere
    (`TOKEN_CONTRACTS`) then counts with the money columns' 18 places, which is exact for
    funding (the chain gave whole base units) — release, refund and split, which round
    fees and shares, should be given `settings`."""
    if decimals is not None:
        return decimals
    global _BUILTIN
    if settings is not None:
        tokens = registry(settings)
    else:
        _BUILTIN = _BUILTIN or build_registry({})
        tokens = _BUILTIN
    token = tokens.get(payment.currency)
    if token is None:
        if settings is not None:
            raise TokenUnknown(details={"currency": payment.currency})
        return MAX_DECIMALS
    deployment = token.deployments.get(payment.network) if payment.network is not None else None
    return deployment.decimals if deployment is not None else token.decimals


def unit(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def round_down(value: Decimal, decimals: int) -> Decimal:
    """Down to the token's smallest unit: the platform never takes a fraction of one."""
    return value.quantize(unit(decimals), rounding=ROUND_DOWN)


def percent(value: Decimal | str | int) -> Decimal:
    """A percentage from 0 to 100, exact."""
    try:
        result = to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise InvalidLedgerAmount(str(exc)) from None
    if not Decimal(0) <= result <= Decimal(100):
        raise InvalidLedgerAmount("A percentage is between 0 and 100")
    return result


def fee_of(amount: Decimal, fee_percent: Decimal | str, decimals: int) -> Decimal:
    return round_down(amount * percent(fee_percent) / Decimal(100), decimals)


def checked_amount(amount: Decimal | int | str, decimals: int) -> Decimal:
    """A positive amount with no more places than the token has."""
    try:
        value = to_decimal(amount)
    except (TypeError, ValueError) as exc:
        raise InvalidLedgerAmount(str(exc)) from None
    if value <= 0:
        raise InvalidLedgerAmount("The amount must be positive")
    if value != round_down(value, decimals):
        raise InvalidLedgerAmount(f"This token has {decimals} decimals")
    return value


def refuse_terminal(payment: Payment) -> None:
    if payment.status in status.TERMINAL:
        raise PaymentTerminal(details={"status": payment.status})


async def has_history(session: AsyncSession, payment: Payment) -> bool:
    found = await session.scalar(
        sa.select(LedgerTransaction.id).where(LedgerTransaction.payment_id == payment.id).limit(1)
    )
    return found is not None


async def cover(
    session: AsyncSession,
    payment: Payment,
    *,
    held: Decimal,
    wanted: Decimal | None,
    move: str,
    key: str,
    now: datetime,
    enforcement: bool,
) -> Decimal:
    """`held` if it covers `wanted` (None: anything held). Without enforcement, a payment
    with no ledger history at all (older than the ledger) is first funded with what it
    lacks — `wanted`, or for everything the amount the payment records as paid (else its
    price) — under cause `legacy.backfill`, logged; the new held balance is returned.
    Otherwise a move the ledger does not cover is `InsufficientHeldFunds`."""
    need = wanted if wanted is not None else Decimal(0)
    if held > 0 and held >= need:
        return held
    if not enforcement and held == 0 and not await has_history(session, payment):
        missing = wanted if wanted is not None else (payment.amount_paid or payment.amount)
        if missing and missing > 0:
            asset = accounts.asset_of(payment)
            await post(
                session,
                kind=FUND,
                key=f"{key}:{LEGACY_BACKFILL}",
                cause=LEGACY_BACKFILL,
                now=now,
                payment_id=payment.id,
                request=fingerprint(amount=missing),
                legs=[
                    Leg(accounts.external(asset), -missing),
                    Leg(accounts.escrow(payment), missing),
                ],
                meta={"backfill_for": move},
            )
            log.warning(
                "ledger_legacy_backfill",
                payment_id=str(payment.id),
                move=move,
                amount=str(missing),
                key=key,
            )
            return missing
    raise InsufficientHeldFunds(
        details={"held": str(held), "wanted": None if wanted is None else str(wanted)}
    )
