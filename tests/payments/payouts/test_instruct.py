"""Release and refund build payout instructions: to the seller's shop wallet on the
payment's network (the price minus the fee), to the buyer's refund address; exact base
units for 6 and 18 decimals; one per ledger movement, whoever calls again."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import Shop
from bazaar.payments import escrow, status
from bazaar.payments.payouts import service as payouts
from bazaar.payments.payouts.errors import PayoutNotBuildable, PayoutWalletMissing
from bazaar.payments.payouts.transfer import decode_transfer_calldata
from tests.fixtures.payments import (
    BUYER_WALLET,
    SELLER_WALLET,
    Deliver,
    MakeDeal,
    get_payment,
    payouts_of,
)
from tests.payments.payouts.support import release
from tests.payments.safety.support import fund_with

DAI_ON_BASE = "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb"
USDC_ON_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


async def test_release_pays_the_seller_wallet_the_price_minus_the_fee(
    db: Database, settings: Settings, make_deal: MakeDeal, deliver: Deliver
) -> None:
    deal = await make_deal(price="200", network=8453)
    await fund_with(db, settings, deal.payment_id)
    await deliver(deal)
    [payout] = await release(db, settings, deal)
    fee = Decimal("200") * Decimal(settings.platform_fee_percent) / 100
    assert (payout.kind, payout.status, payout.recipient_id) == ("release", "built", deal.seller.id)
    assert (payout.to_address, payout.chain_id, payout.currency) == (SELLER_WALLET, 8453, "USDC")
    assert payout.token_contract == USDC_ON_BASE
    assert payout.amount == Decimal("200") - fee
    assert payout.amount_base_units == str(int((Decimal("200") - fee) * 10**6))
    tx = payout.unsigned_tx
    assert (tx["type"], tx["chainId"], tx["to"], tx["value"]) == (2, 8453, USDC_ON_BASE, 0)
    assert decode_transfer_calldata(tx["data"]) == (SELLER_WALLET, int(payout.amount_base_units))
    assert payout.ledger_transaction_id is not None


async def test_an_18_decimal_token_is_exact_to_the_wei(
    db: Database, settings: Settings, make_deal: MakeDeal, deliver: Deliver
) -> None:
    deal = await make_deal(price="1.000000000000000001", currency="DAI", network=8453)
    await fund_with(db, settings, deal.payment_id)
    await deliver(deal)
    mine = settings.model_copy(update={"platform_fee_percent": "0"})
    [payout] = await release(db, mine, deal)
    assert (payout.currency, payout.token_contract) == ("DAI", DAI_ON_BASE)
    assert payout.amount_base_units == "1000000000000000001"
    assert decode_transfer_calldata(payout.unsigned_tx["data"])[1] == 10**18 + 1


async def test_instruct_again_for_the_same_movement_returns_the_same_payout(
    db: Database, settings: Settings, make_deal: MakeDeal, deliver: Deliver
) -> None:
    deal = await make_deal(price="50")
    await fund_with(db, settings, deal.payment_id)
    await deliver(deal)
    [first] = await release(db, settings, deal)
    async with db.transaction() as session:
        payment = await get_payment(db, deal.payment_id)
        again = await payouts.instruct(
            session,
            payment,
            kind="release",
            recipient_id=deal.seller.id,
            to_address=SELLER_WALLET,
            amount=first.amount,
            ledger_transaction_id=first.ledger_transaction_id,
            now=utcnow(),
            settings=settings,
        )
    assert again.id == first.id
    assert len(await payouts_of(db, deal.payment_id)) == 1


async def test_refund_pays_the_sender_when_no_refund_address_was_given(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    deal = await make_deal(price="75.5")
    await fund_with(db, settings, deal.payment_id)
    async with db.transaction() as session:
        await escrow.refund(
            session,
            deal.payment_id,
            actor_id=deal.seller.id,
            key="refund-1",
            now=utcnow(),
            settings=settings,
            cause="test.refund",
        )
    [payout] = await payouts_of(db, deal.payment_id)
    assert (payout.kind, payout.recipient_id, payout.to_address) == (
        "refund",
        deal.buyer.id,
        BUYER_WALLET,
    )
    assert payout.amount == Decimal("75.5") and payout.amount_base_units == "75500000"


async def test_a_seller_wallet_removed_after_the_offer_blocks_the_release(
    db: Database, settings: Settings, make_deal: MakeDeal, deliver: Deliver
) -> None:
    deal = await make_deal(price="10")
    await fund_with(db, settings, deal.payment_id)
    await deliver(deal)
    async with db.transaction() as session:
        await session.execute(
            sa.update(Shop).where(Shop.owner_id == deal.seller.id).values(payout_wallets={})
        )
    with pytest.raises(PayoutWalletMissing):
        await release(db, settings, deal)
    # Nothing moved: the release and its ledger posting rolled back with the payout.
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.HELD
    assert await payouts_of(db, deal.payment_id) == []


async def test_unpayable_instructions_are_refused(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    deal = await make_deal(price="10")
    payment = await get_payment(db, deal.payment_id)
    common: dict[str, Any] = {
        "kind": "refund",
        "recipient_id": deal.buyer.id,
        "ledger_transaction_id": uuid.uuid4(),
        "now": utcnow(),
        "settings": settings,
    }
    async with db.transaction() as session:
        with pytest.raises(PayoutNotBuildable, match="more than 6 decimals"):
            await payouts.instruct(
                session, payment, to_address=BUYER_WALLET, amount=Decimal("0.0000001"), **common
            )
        with pytest.raises(PayoutNotBuildable, match="address"):
            await payouts.instruct(
                session, payment, to_address="0x" + "0" * 40, amount=Decimal(1), **common
            )
