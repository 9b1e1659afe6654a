"""What `bazaar dev pay` and `bazaar dev sign-payout` do, as functions taking the settings
and the database (the CLI only parses and prints).

Both go through the same code the API uses: paying saves the tx hash with the on-chain
provider's service and runs a verification pass; signing a payout marks it sent with the
payouts service and runs the payout verification.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bazaar.config import ConfigError, Settings
from bazaar.dev.chain import BUYER, TREASURY, DevChain
from bazaar.kit.db import Database, utcnow
from bazaar.models import ChainTransfer, Payment, Payout, User
from bazaar.payments import funding
from bazaar.payments.decentralized import service as decentralized
from bazaar.payments.payouts import service as payouts
from bazaar.payments.providers.onchain import provider


def refuse_production(settings: Settings) -> None:
    if settings.is_production:
        raise ConfigError("`bazaar dev` uses published test keys and never runs in production")


@dataclass(frozen=True)
class Paid:
    tx_hash: str
    amount: Decimal
    base_units: int
    status: str  # the payment's status after the verification pass
    transfer_status: str


def rpc_url(settings: Settings, chain_id: int) -> str:
    url = settings.rpc_urls.get(chain_id)
    if not url:
        raise ConfigError(
            f"RPC_URL_{chain_id} is not set: export the settings `bazaar dev chain` printed"
        )
    return url


async def pay(
    db: Database, settings: Settings, payment_id: uuid.UUID, amount: Decimal | None = None
) -> Paid:
    """Send the payment's amount still due (or `amount`) from the development buyer's
    wallet to the payment's receiver, save the hash as the payment's buyer and verify."""
    refuse_production(settings)
    async with db.reading() as session:
        payment = await session.get(Payment, payment_id)
        if payment is None:
            raise LookupError(f"no payment {payment_id}")
        to = provider.receiver(payment, settings)
        buyer = await session.get_one(User, payment.buyer_id)
    value = to.amount_due if amount is None else amount
    units = funding.to_base_units(value, to.decimals)
    if units <= 0:
        raise ValueError("nothing is due on this payment; pass --amount to send more")
    async with DevChain(rpc_url(settings, to.chain_id), to.chain_id) as chain:
        tx_hash = await chain.transfer(BUYER, to.token_contract, to.address, units)
        await chain.receipt(tx_hash)
    async with db.transaction() as session:
        await decentralized.save(
            session,
            payment_id,
            buyer,
            tx_hash=tx_hash,
            refund_address=None,
            now=utcnow(),
            settings=settings,
        )
    await funding.verify_payment(db, payment_id, now=utcnow(), settings=settings)
    async with db.reading() as session:
        payment = await session.get_one(Payment, payment_id, populate_existing=True)
        stmt = sa.select(ChainTransfer).where(ChainTransfer.tx_hash == tx_hash)
        transfer = (await session.execute(stmt)).scalar_one()
    return Paid(tx_hash, value, units, payment.status, transfer.status)


@dataclass(frozen=True)
class Signed:
    tx_hash: str
    to_address: str
    amount: Decimal
    status: str  # the payout's status after the verification pass


async def sign_payout(db: Database, settings: Settings, payout_id: uuid.UUID) -> Signed:
    """Sign a build-only payout's unsigned EIP-1559 transaction with the development
    treasury key (nonce and fees filled in from the node), send it, mark the payout sent
    and run the payout verification once."""
    refuse_production(settings)
    async with db.reading() as session:
        payout = await payouts.get_unscoped(session, payout_id)
        unsigned: dict[str, Any] = dict(payout.unsigned_tx)
        chain_id = int(unsigned.get("chainId") or payout.chain_id)
    if payout.status != "built":
        raise ValueError(f"payout {payout_id} is {payout.status}, not built")
    async with DevChain(rpc_url(settings, chain_id), chain_id) as chain:
        tx_hash = await chain.send(
            TREASURY,
            to=str(unsigned["to"]),
            data=str(unsigned["data"]),
            value=int(unsigned.get("value") or 0),
            gas=int(unsigned.get("gas") or 100_000),
        )
        receipt = await chain.receipt(tx_hash)
        if int(receipt["status"], 16) != 1:
            raise RuntimeError(f"the payout transaction {tx_hash} reverted (treasury funds?)")
    async with db.transaction() as session:
        await payouts.mark_sent(session, payout_id, tx_hash, actor_id=None, now=utcnow())
    await payouts.verify_sent(db, settings, utcnow())
    async with db.reading() as session:
        done = await session.get_one(Payout, payout_id, populate_existing=True)
    return Signed(tx_hash, done.to_address, done.amount, done.status)
