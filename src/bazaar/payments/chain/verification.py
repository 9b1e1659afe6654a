"""Verifying the chain transfers that fund a payment: claim → call → record (the logic
behind `payments/funding.py`).

One pass for a payment:

1. **Claim** (a short transaction): read the payment's open transfers (`submitted`,
   `confirming`, not yet credited) with what was last recorded about each, the token's
   decimals and the confirmations required (`safety.confirmations_required`).
2. **Call** (no transaction open; `kit/locks.py` asserts it): per transfer, the receipt
   (reverted → `failed`), the ERC-20 `Transfer` logs of the payment's token contract to the
   receiver the buyer was shown, not removed (another token or another recipient →
   `failed`, with the reason), the amount in base units, the head (confirmations = head −
   block + 1) and, at the threshold, the block hash at that height: a changed hash, a
   receipt in another block or a vanished receipt is a reorg.
3. **Record** (one short transaction per transfer, re-reading it under a lock; what changed
   since the claim is left for the next pass): below the threshold the transfer is
   `confirming` and the payment moves to `confirming`; a reorg moves the transfer back to
   `submitted` and the payment back to `pending` / `partially_paid` (cause `chain.reorg`);
   confirmed: lock the request then the payment, `ledger.fund` keyed `fund:<transfer id>`
   (so a second pass or a second worker posts nothing), `amount_paid` += the amount, the
   sender and refund address defaulted, then `escrow.on_funds_confirmed` decides held /
   partially paid / awaiting review.

A node that is down or slower than RPC_TIMEOUT changes nothing but the transfers' `attempts`
and `next_check_at` (retried by the worker's sweep, `payments/chain/jobs.py`) and raises
`ChainUnavailable` (503 on the verify endpoint).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Transactions
from bazaar.kit.jobs import backoff
from bazaar.kit.tokens import registry
from bazaar.models import ChainTransfer, Payment
from bazaar.payments import escrow, ledger, lifecycle, status
from bazaar.payments.chain import erc20
from bazaar.payments.chain import repository as transfers
from bazaar.payments.chain.errors import ChainUnavailable
from bazaar.payments.chain.rpc import ChainClient
from bazaar.payments.errors import TokenNotPayable
from bazaar.payments.providers.base import AdvanceOutcome
from bazaar.payments.safety import service as safety

log = structlog.get_logger("bazaar.funding")

# A hash the node has never seen after this long is given up on (a typo, a dropped tx).
NOT_FOUND_AFTER = timedelta(hours=1)
# While a pass of the worker's sweep runs, its transfers are not due for another pass.
LEASE = timedelta(minutes=2)

Kind = Literal["missing", "failed", "waiting", "confirmed", "reorg"]


@dataclass(frozen=True)
class Claimed:
    """A transfer as the claim read it: the record step applies an observation only if
    the row still says this."""

    id: uuid.UUID
    tx_hash: str
    status: str
    block_hash: str | None
    receiver: str
    token_contract: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Claim:
    payment_id: uuid.UUID
    chain_id: int
    currency: str
    decimals: int
    required: int
    transfers: list[Claimed] = field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    kind: Kind
    reason: str | None = None
    sender: str | None = None
    base_units: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    confirmations: int = 0


def decimals_of(payment: Payment, settings: Settings) -> int:
    """The token's decimals on the payment's network, from the token registry."""
    token = registry(settings).get(payment.currency)
    if token is None:
        raise TokenNotPayable()
    deployment = token.deployments.get(payment.network) if payment.network is not None else None
    return deployment.decimals if deployment is not None else token.decimals


def to_units(base_units: int, decimals: int) -> Decimal:
    """Integer base units → exact token units (Decimal)."""
    return Decimal(base_units).scaleb(-decimals)


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Exact token units → integer base units; refuses a finer amount than the token has."""
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


# -- 1. claim ---------------------------------------------------------------------------------


async def claim(
    session: AsyncSession, payment_id: uuid.UUID, *, settings: Settings
) -> Claim | None:
    """What a pass for `payment_id` needs to know, read in the caller's short transaction."""
    payment = await transfers.payment_unscoped(session, payment_id)
    if payment is None or payment.network is None:
        return None
    rows = await transfers.open_of_payment(session, payment_id)
    required = await safety.confirmations_required(
        session, payment.network, payment.currency, settings=settings
    )
    return Claim(
        payment_id=payment.id,
        chain_id=payment.network,
        currency=payment.currency,
        decimals=decimals_of(payment, settings),
        required=max(1, required),
        transfers=[
            Claimed(
                id=row.id,
                tx_hash=row.tx_hash,
                status=row.status,
                block_hash=row.block_hash,
                receiver=row.to_address or "",
                token_contract=row.token_contract or payment.token_contract or "",
                created_at=row.created_at,
                attempts=row.attempts,
            )
            for row in rows
        ],
    )


# -- 2. call (no transaction open) -------------------------------------------------------------


def _int(value: object) -> int:
    return int(value, 16) if isinstance(value, str) else int(str(value))


async def observe(chain: ChainClient, claimed: Claimed, *, head: int, required: int) -> Observation:
    """What the chain says about one transfer now."""
    receipt = await chain.receipt(claimed.tx_hash)
    if receipt is None or receipt.get("blockNumber") is None:
        if claimed.block_hash is not None:
            return Observation("reorg", "the transaction is no longer in the chain")
        return Observation("missing", "the node does not know this transaction (yet)")
    block_number = _int(receipt["blockNumber"])
    block_hash = str(receipt["blockHash"]).lower()
    if claimed.block_hash is not None and claimed.block_hash != block_hash:
        return Observation("reorg", "the transaction moved to another block")
    if _int(receipt.get("status", 0)) != 1:
        return Observation("failed", "the transaction reverted")
    token, receiver = claimed.token_contract.lower(), claimed.receiver.lower()
    logs = erc20.transfers_in_receipt(receipt)
    ours = [t for t in logs if t.token.lower() == token and t.to.lower() == receiver]
    live = [t for t in ours if not t.removed]
    if not live:
        if ours:
            return Observation("reorg", "the transfer log was removed by a reorg")
        if any(t.to.lower() == receiver for t in logs):
            other = next(t.token for t in logs if t.to.lower() == receiver)
            return Observation(
                "failed", f"wrong token contract: {other} is not the payment's token"
            )
        if any(t.token.lower() == token for t in logs):
            other = next(t.to for t in logs if t.token.lower() == token)
            return Observation(
                "failed", f"wrong recipient: the tokens went to {other}, not the receiver"
            )
        return Observation("failed", "no transfer of the payment's token in this transaction")
    base_units = sum(t.base_units for t in live)
    if base_units <= 0:
        return Observation("failed", "the transfer moved no tokens")
    found = Observation(
        "waiting",
        sender=live[0].sender,
        base_units=base_units,
        block_number=block_number,
        block_hash=block_hash,
        confirmations=max(0, head - block_number + 1),
    )
    if found.confirmations < required:
        return found
    # At the threshold: is the block still the chain's block at that height?
    if await chain.block_hash(block_number) != block_hash:
        return Observation("reorg", "the block at the transfer's height changed")
    return Observation(
        "confirmed",
        sender=found.sender,
        base_units=base_units,
        block_number=block_number,
        block_hash=block_hash,
        confirmations=found.confirmations,
    )


async def observe_all(settings: Settings, claimed: Claim) -> list[Observation]:
    async with ChainClient.for_chain(settings, claimed.chain_id) as chain:
        await chain.verify_chain_id()
        head = await chain.block_number()
        return [
            await observe(chain, t, head=head, required=claimed.required) for t in claimed.transfers
        ]


# -- 3. record ----------------------------------------------------------------------------------


async def _step_back(session: AsyncSession, payment: Payment, *, cause: str, now: datetime) -> None:
    """A confirming payment whose only confirming transfer is gone returns to where it was
    before: `partially_paid` with money credited, else `pending`."""
    if payment.status != status.CONFIRMING:
        return
    back = status.PARTIALLY_PAID if payment.amount_paid > 0 else status.PENDING
    await lifecycle.move(session, payment, back, cause=cause, now=now)


async def _credit(
    session: AsyncSession,
    payment: Payment,
    transfer: ChainTransfer,
    seen: Observation,
    claimed: Claim,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    assert seen.base_units is not None and seen.sender is not None
    amount = to_units(seen.base_units, claimed.decimals)
    data = {"transferId": str(transfer.id), "txHash": transfer.tx_hash, "amount": str(amount)}
    if payment.status in (status.PENDING, status.PARTIALLY_PAID):
        await lifecycle.move(
            session, payment, status.CONFIRMING, cause="chain.confirmed", now=now, data=data
        )
    await ledger.fund(
        session,
        payment,
        amount,
        key=f"fund:{transfer.id}",
        cause="chain.confirmed",
        now=now,
        settings=settings,
        decimals=claimed.decimals,
    )
    payment.amount_paid = (payment.amount_paid or Decimal(0)) + amount
    payment.sender_address = payment.sender_address or seen.sender
    payment.refund_address = payment.refund_address or seen.sender
    payment.updated_at = now
    transfer.status = transfers.CONFIRMED
    transfer.credited = True
    transfer.next_check_at = None
    await session.flush()
    await escrow.on_funds_confirmed(session, payment, now=now, settings=settings)


async def record(
    session: AsyncSession,
    claimed: Claim,
    t: Claimed,
    seen: Observation,
    *,
    now: datetime,
    settings: Settings,
) -> str:
    """Apply one observation if the transfer still is as claimed; the outcome's name."""
    payment: Payment | None = None
    if seen.kind != "missing":
        # Anything but "not found yet" may move the payment: lock the request, then the
        # payment (the order of every flow that holds both), then the transfer row, so the
        # status moves below never lose a compare-and-set to a concurrent pass.
        found = await transfers.payment_unscoped(session, claimed.payment_id)
        if found is not None:
            await transfers.lock_request_of(session, found)
            payment = await ledger.lock_payment(session, claimed.payment_id)
    transfer = await transfers.transfer_locked(session, t.id)
    if (
        transfer is None
        or transfer.credited
        or transfer.status != t.status
        or transfer.block_hash != t.block_hash
    ):
        return "stale"
    transfer.updated_at = now
    if seen.block_number is not None:
        transfer.block_number = seen.block_number
        transfer.block_hash = seen.block_hash
        transfer.confirmations = seen.confirmations
        transfer.from_address = seen.sender
        transfer.amount_base_units = str(seen.base_units)
    if seen.kind == "missing":
        transfer.attempts += 1
        if now - t.created_at >= NOT_FOUND_AFTER:
            transfer.status = transfers.FAILED
            transfer.failure_reason = "the transaction was not found on chain within an hour"
            transfer.next_check_at = None
            return "failed"
        transfer.next_check_at = now + settings.chain_recheck_interval
        return "waiting"
    if seen.kind == "failed":
        transfer.status = transfers.FAILED
        transfer.failure_reason = seen.reason
        transfer.next_check_at = None
        if payment is not None and not await transfers.others_confirming(
            session, payment.id, transfer.id
        ):
            await _step_back(session, payment, cause="chain.failed", now=now)
        return "failed"
    if seen.kind == "reorg":
        log.warning("chain_reorg", transfer_id=str(transfer.id), reason=seen.reason)
        transfer.status = transfers.SUBMITTED
        transfer.block_number = None
        transfer.block_hash = None
        transfer.confirmations = 0
        transfer.next_check_at = now
        if payment is not None and not await transfers.others_confirming(
            session, payment.id, transfer.id
        ):
            await _step_back(session, payment, cause="chain.reorg", now=now)
        return "reorg"
    if seen.kind == "waiting":
        transfer.status = transfers.CONFIRMING
        transfer.next_check_at = now + settings.chain_recheck_interval
        if payment is not None and payment.status in (status.PENDING, status.PARTIALLY_PAID):
            await lifecycle.move(
                session,
                payment,
                status.CONFIRMING,
                cause="chain.seen",
                now=now,
                data={"transferId": str(transfer.id), "confirmations": seen.confirmations},
            )
        return "waiting"
    if payment is None:
        return "stale"
    await _credit(session, payment, transfer, seen, claimed, now=now, settings=settings)
    return "credited"


# -- a whole pass -------------------------------------------------------------------------------


async def verify_payment(
    db: Transactions, payment_id: uuid.UUID, *, now: datetime, settings: Settings
) -> AdvanceOutcome:
    """Check every open transfer of the payment now and record what the chain says.

    Raises `ChainUnavailable` when the node cannot be asked (after counting the try on the
    transfers and scheduling the next one); nothing else changes then.
    """
    async with db.transaction() as session:
        claimed = await claim(session, payment_id, settings=settings)
    if claimed is None or not claimed.transfers:
        return AdvanceOutcome(checked=0, credited=0, failed=0, waiting=0)
    try:
        seen = await observe_all(settings, claimed)
    except ChainUnavailable as exc:
        attempts = 1 + max(t.attempts for t in claimed.transfers)
        async with db.transaction() as session:
            rows = [t.id for t in claimed.transfers]
            retry = now + max(settings.chain_recheck_interval, backoff(attempts))
            await transfers.bump_unavailable(session, rows, retry, now)
        log.warning("chain_unavailable", payment_id=str(payment_id), error=exc.message)
        raise
    outcomes: list[str] = []
    for t, observation in zip(claimed.transfers, seen, strict=True):
        async with db.transaction() as session:
            outcomes.append(
                await record(session, claimed, t, observation, now=now, settings=settings)
            )
    return AdvanceOutcome(
        checked=len(outcomes),
        credited=outcomes.count("credited"),
        failed=outcomes.count("failed"),
        waiting=outcomes.count("waiting") + outcomes.count("reorg"),
    )


async def verify_due(db: Transactions, *, now: datetime, settings: Settings, backend: str) -> int:
    """One pass of the worker's sweep: every payment with a transfer due for a check (a
    batch of CHAIN_VERIFY_BATCH). Once a chain's node is found down or slow, the pass skips
    that chain's other payments (they stay leased, so they are tried again after LEASE):
    one dead node costs one timeout per pass, not one per payment. Returns how many
    payments were checked."""
    async with db.transaction() as session:
        due = await transfers.claim_due(
            session, now, now + LEASE, settings.chain_verify_batch, backend
        )
    checked = 0
    down: set[int] = set()
    for payment_id, chain_id in due:
        if chain_id in down:
            continue
        try:
            await verify_payment(db, payment_id, now=now, settings=settings)
        except ChainUnavailable:
            down.add(chain_id)
            continue
        except Exception:
            log.exception("chain_verify_failed", payment_id=str(payment_id))
            continue
        checked += 1
    return checked
