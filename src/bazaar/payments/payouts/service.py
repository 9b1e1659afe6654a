"""Payout instructions: built when a release or refund moves money out of escrow, signed
outside Bazaar, marked sent, and verified on chain before they count as paid out.

built → sent → done; a sent transaction that failed or moved the wrong money goes back to
`built` with `failure_reason`, so an admin can sign and send again.

With DERIVED_DESTINATION_SWEEP_SIGNER=build-only (the only signer; `config.Settings`
refuses another) a payout carries an unsigned EIP-1559 ERC-20 `transfer(to, amount)`.
The verification sweep follows the claim → JSON-RPC → record rule: sent payouts are
claimed in one short transaction, the chain is asked with no transaction open, and each
outcome is recorded in its own short transaction under the payout's row lock.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.locks import assert_no_write_transaction
from bazaar.kit.pagination import PageParams
from bazaar.kit.tokens import registry
from bazaar.kit.wallets import normalize_evm_address
from bazaar.marketplace.shops import service as shops
from bazaar.models import Payment, Payout
from bazaar.payments.chain import erc20
from bazaar.payments.payouts import repository as repo
from bazaar.payments.payouts import transfer
from bazaar.payments.payouts.errors import (
    PayoutAlreadySent,
    PayoutDone,
    PayoutNotBuildable,
    PayoutNotFound,
    PayoutTxHashUsed,
    PayoutWalletMissing,
)

log = structlog.get_logger("bazaar.payouts")

BUILT = "built"
SENT = "sent"
DONE = "done"
KINDS = ("release", "refund")
BUILD_ONLY = "build-only"

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
# How long a claimed check may take before another sweep may take the payout again.
CLAIM_FOR = timedelta(minutes=2)
# Next check of a transaction not mined or not yet confirmed enough; of an unreachable node.
RECHECK = timedelta(seconds=15)
RETRY_UNAVAILABLE = timedelta(minutes=1)
BATCH = 20


# -- building --------------------------------------------------------------------------------


async def seller_wallet(session: AsyncSession, payment: Payment) -> str:
    """The seller's shop payout wallet for the payment's network (409
    PAYOUT_WALLET_MISSING without one): read when the money goes out, so a wallet the
    seller changed since the offer is the one paid."""
    shop = await shops.get_shop_by_owner(session, payment.seller_id)
    address = None
    if shop is not None and payment.network is not None:
        address = (shop.payout_wallets or {}).get(str(payment.network))
    if not address:
        raise PayoutWalletMissing()
    return str(address)


def _decimals(payment: Payment, settings: Settings) -> int:
    token = registry(settings).get(payment.currency)
    if token is None:
        raise PayoutNotBuildable(f"{payment.currency} is not in the token registry")
    deployment = token.deployments.get(payment.network) if payment.network is not None else None
    return deployment.decimals if deployment is not None else token.decimals


async def instruct(
    session: AsyncSession,
    payment: Payment,
    *,
    kind: str,
    recipient_id: uuid.UUID,
    to_address: str,
    amount: Decimal,
    ledger_transaction_id: uuid.UUID | None,
    now: datetime,
    settings: Settings,
) -> Payout:
    """The payout of `amount` of the payment's token to `to_address`, as an unsigned
    transfer on the payment's chain. One per ledger transaction and kind: calling again
    for the same movement returns the payout already built."""
    if kind not in KINDS:
        raise ValueError(f"payout kind must be one of {KINDS}")
    if ledger_transaction_id is not None:
        existing = await repo.by_ledger_transaction(session, ledger_transaction_id, kind)
        if existing is not None:
            return existing
    if payment.network is None or not payment.token_contract:
        raise PayoutNotBuildable("The payment has no chain or token contract recorded")
    try:
        address = normalize_evm_address(to_address)
    except ValueError as exc:
        raise PayoutNotBuildable(f"The payout address is not usable: {exc}") from None
    decimals = _decimals(payment, settings)
    try:
        units = transfer.base_units(amount, decimals)
    except ValueError as exc:
        raise PayoutNotBuildable(str(exc)) from None
    contract = normalize_evm_address(payment.token_contract)
    payout = Payout(
        payment_id=payment.id,
        kind=kind,
        recipient_id=recipient_id,
        to_address=address,
        chain_id=payment.network,
        token_contract=contract,
        currency=payment.currency,
        amount=amount,
        amount_base_units=str(units),
        status=BUILT,
        unsigned_tx=transfer.unsigned_transaction(payment.network, contract, address, units),
        ledger_transaction_id=ledger_transaction_id,
        created_at=now,
        checks=0,
        confirmations=0,
    )
    session.add(payout)
    await session.flush()
    log.info(
        "payout_built",
        payout_id=str(payout.id),
        payment_id=str(payment.id),
        kind=kind,
        amount=str(amount),
        currency=payment.currency,
        signer=settings.derived_destination_sweep_signer,
    )
    return payout


# -- reading ---------------------------------------------------------------------------------


async def get_unscoped(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    """Admin code only."""
    payout = await repo.get_unscoped(session, payout_id)
    if payout is None:
        raise PayoutNotFound()
    return payout


async def search(
    session: AsyncSession,
    params: PageParams,
    *,
    status: str | None = None,
    payment_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> tuple[list[Payout], int]:
    """Admin code only: payouts, newest first."""
    return await repo.search(session, params, status=status, payment_id=payment_id, kind=kind)


# -- sent ------------------------------------------------------------------------------------


def normalize_tx_hash(tx_hash: str) -> str:
    text = tx_hash.strip()
    if not TX_HASH.match(text):
        raise ValidationFailed.on("txHash", "must be 0x followed by 64 hex digits")
    return text.lower()


async def mark_sent(
    session: AsyncSession,
    payout_id: uuid.UUID,
    tx_hash: str,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> Payout:
    """Record the transaction an admin (or `bazaar dev sign-payout`) sent for a built
    payout; the verification sweep then checks it on chain. Sending the same hash again
    changes nothing; another hash for a sent payout is 409 PAYOUT_ALREADY_SENT, a hash
    another payout or a funding transfer already has is 409 PAYOUT_TX_HASH_USED."""
    tx_hash = normalize_tx_hash(tx_hash)
    payout = await repo.get_unscoped(session, payout_id, lock=True)
    if payout is None:
        raise PayoutNotFound()
    if payout.status == DONE:
        if payout.tx_hash == tx_hash:
            return payout
        raise PayoutDone()
    if payout.status == SENT:
        if payout.tx_hash == tx_hash:
            return payout
        raise PayoutAlreadySent()
    if await repo.tx_hash_taken(session, payout.chain_id, tx_hash, payout.id):
        raise PayoutTxHashUsed()
    payout.tx_hash = tx_hash
    payout.status = SENT
    payout.sent_by = actor_id
    payout.sent_at = now
    payout.next_check_at = now
    payout.failure_reason = None
    payout.confirmations = 0
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another payout took the hash between the check and this write.
        raise PayoutTxHashUsed() from None
    log.info("payout_sent", payout_id=str(payout.id), tx_hash=tx_hash, by=str(actor_id))
    return payout


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    chain_id: int
    currency: str
    tx_hash: str
    token_contract: str
    to_address: str
    units: int


@dataclass(frozen=True)
class Observation:
    """What the chain said about a payout's transaction (None fields: not known)."""

    unavailable: str | None = None
    receipt: dict[str, Any] | None = None
    head: int | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # done | built (failed) | sent (check later)
    reason: str | None = None
    confirmations: int = 0


async def claim(db: Database, now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Sent payouts due for a check, claimed in one short transaction."""
    async with db.transaction() as session:
        rows = await repo.claim_due(session, now, now + CLAIM_FOR, limit)
        return [
            Claimed(
                id=row.id,
                chain_id=row.chain_id,
                currency=row.currency,
                tx_hash=row.tx_hash or "",
                token_contract=row.token_contract,
                to_address=row.to_address,
                units=int(row.amount_base_units),
            )
            for row in rows
        ]


async def observe(settings: Settings, item: Claimed) -> Observation:
    """Ask the chain for the transaction's receipt and the head (no transaction open)."""
    from bazaar.payments.chain.rpc import ChainClient, ChainRequestRefused, ChainUnavailable

    assert_no_write_transaction("json-rpc")
    try:
        async with ChainClient.for_chain(settings, item.chain_id) as client:
            receipt = await client.receipt(item.tx_hash)
            head = await client.block_number() if receipt is not None else None
    except (ChainUnavailable, ChainRequestRefused) as exc:
        return Observation(unavailable=str(exc) or "the chain's node is unavailable")
    return Observation(receipt=receipt, head=head)


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    return int(value)


def judge(item: Claimed, seen: Observation, required: int) -> Outcome:
    """The payout's fate from what the chain said: done when the transaction succeeded and
    moved exactly the payout's amount of its token to its address, with enough
    confirmations; failed (back to built) when it reverted or moved anything else."""
    receipt = seen.receipt
    if receipt is None:
        return Outcome(SENT)
    if _int(receipt.get("status", 0)) != 1:
        return Outcome(BUILT, f"transaction {item.tx_hash} reverted")
    matches = [
        t
        for t in erc20.transfers_in_receipt(receipt)
        if not t.removed
        and t.token.lower() == item.token_contract.lower()
        and t.to.lower() == item.to_address.lower()
    ]
    if not matches:
        return Outcome(
            BUILT,
            f"transaction {item.tx_hash} moved no {item.currency} to {item.to_address}",
        )
    moved = sum(t.base_units for t in matches)
    if moved != item.units:
        return Outcome(
            BUILT,
            f"transaction {item.tx_hash} moved {moved} base units to {item.to_address}, "
            f"the payout is {item.units}",
        )
    block = receipt.get("blockNumber")
    confirmations = 0
    if block is not None and seen.head is not None:
        confirmations = max(0, seen.head - _int(block) + 1)
    if confirmations < required:
        return Outcome(SENT, confirmations=confirmations)
    return Outcome(DONE, confirmations=confirmations)


async def record(
    session: AsyncSession,
    item: Claimed,
    seen: Observation,
    *,
    now: datetime,
    settings: Settings,
) -> Outcome | None:
    """Apply one observation under the payout's row lock; None when the payout moved on
    meanwhile (marked sent again with another hash, already done)."""
    from bazaar.payments import ledger
    from bazaar.payments.safety import service as safety

    payout = await repo.get_unscoped(session, item.id, lock=True)
    if payout is None or payout.status != SENT or payout.tx_hash != item.tx_hash:
        return None
    payout.checks += 1
    if seen.unavailable is not None:
        payout.next_check_at = now + RETRY_UNAVAILABLE
        log.warning("payout_check_unavailable", payout_id=str(payout.id), error=seen.unavailable)
        return Outcome(SENT, seen.unavailable)
    required = await safety.confirmations_required(
        session, item.chain_id, item.currency, settings=settings
    )
    outcome = judge(item, seen, required)
    payout.confirmations = outcome.confirmations
    if outcome.status == SENT:
        payout.next_check_at = now + RECHECK
    elif outcome.status == BUILT:
        payout.status = BUILT
        payout.failure_reason = (outcome.reason or "")[:500]
        payout.tx_hash = None
        payout.sent_at = None
        payout.next_check_at = None
        log.warning("payout_tx_refused", payout_id=str(payout.id), reason=outcome.reason)
    else:
        await ledger.payout(
            session, payout, key=f"payout:{payout.id}", cause="payout.verified", now=now
        )
        payout.status = DONE
        payout.done_at = now
        payout.next_check_at = None
        payout.failure_reason = None
        log.info("payout_done", payout_id=str(payout.id), tx_hash=item.tx_hash)
    await session.flush()
    return outcome


async def verify_sent(db: Database, settings: Settings, now: datetime) -> dict[str, int]:
    """One pass of the verification sweep: claim, observe each, record each."""
    counts = {DONE: 0, BUILT: 0, SENT: 0}
    for item in await claim(db, now):
        seen = await observe(settings, item)
        try:
            async with db.transaction() as session:
                outcome = await record(session, item, seen, now=now, settings=settings)
        except Exception:
            # Rolled back: the claim runs out and the payout is checked again then.
            log.exception("payout_check_failed", payout_id=str(item.id))
            continue
        if outcome is not None:
            counts[outcome.status] += 1
    return counts
