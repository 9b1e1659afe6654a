"""AML screening of confirmed money: a deny-listed sender, a payment above the per-payment
limit or a buyer above the daily limit puts the payment in `awaiting_review` (the request
stays `accepted`); anything else is held in escrow."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from eth_utils import to_checksum_address

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.payments import status
from tests.fixtures.payments import MakeDeal, get_request
from tests.payments.safety.support import events, fund_with, safety_settings

DENIED = str(to_checksum_address("0x90f79bf6eb2c4f870365e785982e1f101e93b906"))


async def test_a_deny_listed_sender_waits_for_review_whatever_the_case(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    # The deny-list is written in lower case, the transfer's sender in EIP-55.
    mine = safety_settings(settings, denylist=f"0x{'1' * 40},{DENIED.lower()}")
    deal = await make_deal(price="40")
    payment = await fund_with(db, mine, deal.payment_id, sender=DENIED)
    assert payment.status == status.AWAITING_REVIEW
    assert payment.review_reason == f"sender {DENIED} is on the deny-list"
    assert payment.held_at is None
    assert (await get_request(db, deal.request_id)).status == "accepted"  # not funded
    moves = [e[1:] for e in await events(db, deal.payment_id)]
    assert ("awaiting_review", "chain.confirmed") in moves and (
        "held",
        "chain.confirmed",
    ) not in moves

    clean = await make_deal(price="40")
    assert (await fund_with(db, mine, clean.payment_id)).status == status.HELD


async def test_a_payment_above_the_limit_waits_and_one_at_the_limit_is_held(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    mine = safety_settings(settings, max_payment='{"USDC": "1000", "*": "10"}')
    at_limit = await make_deal(price="1000")
    assert (await fund_with(db, mine, at_limit.payment_id)).status == status.HELD

    above = await make_deal(price="1000.000001")
    payment = await fund_with(db, mine, above.payment_id)
    assert payment.status == status.AWAITING_REVIEW
    assert payment.review_reason == (
        "payment of 1000.000001 USDC is above the per-payment limit of 1000 USDC"
    )
    # The limit is per token: DAI falls under "*".
    dai = await make_deal(price="10.5", currency="DAI")
    assert (await fund_with(db, mine, dai.payment_id)).status == status.AWAITING_REVIEW


async def test_the_daily_limit_counts_the_buyers_money_of_the_last_24_hours(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    mine = safety_settings(settings, daily="100")
    now = utcnow()
    first = await make_deal(price="60")
    buyer = first.buyer
    assert (await fund_with(db, mine, first.payment_id, now=now)).status == status.HELD

    # 60 earlier today + 50 now = 110 > 100.
    second = await make_deal(price="50", buyer=buyer)
    payment = await fund_with(db, mine, second.payment_id, now=now + timedelta(hours=1))
    assert payment.status == status.AWAITING_REVIEW
    assert payment.review_reason is not None
    assert "(110 USDC) is above the daily limit of 100 USDC" in payment.review_reason

    # Another buyer has a day of their own; a day later the first one's money has aged out.
    other = await make_deal(price="50")
    assert (await fund_with(db, mine, other.payment_id, now=now)).status == status.HELD
    later = await make_deal(price="90", buyer=buyer)
    tomorrow = now + timedelta(hours=25, seconds=1)
    assert (await fund_with(db, mine, later.payment_id, now=tomorrow)).status == status.HELD


async def test_partial_money_is_screened_once_the_price_is_paid(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    mine = safety_settings(settings, max_payment="100")
    deal = await make_deal(price="100")
    assert (await fund_with(db, mine, deal.payment_id, "30")).status == status.PARTIALLY_PAID
    # The top-up makes 130 paid: above the limit as a whole.
    payment = await fund_with(db, mine, deal.payment_id, "100")
    assert payment.amount_paid == Decimal("130")
    assert payment.status == status.AWAITING_REVIEW
    assert "130 USDC" in (payment.review_reason or "")


async def test_all_reasons_are_given_together(
    db: Database, settings: Settings, make_deal: MakeDeal
) -> None:
    mine = safety_settings(settings, denylist=DENIED, max_payment="5", daily="5")
    deal = await make_deal(price="6")
    payment = await fund_with(db, mine, deal.payment_id, sender=DENIED)
    reasons = (payment.review_reason or "").split("; ")
    assert len(reasons) == 3
    assert [r.split(" ")[0] for r in reasons] == ["sender", "payment", "buyer's"]
