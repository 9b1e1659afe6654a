"""The guard's review: payments a safety rule holds back are listed for guards and admins;
approving holds the money (request funded), rejecting refunds it to the buyer with a payout
instruction; each decision happens once, by the right role."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.models import LedgerTransaction, PurchaseRequest
from bazaar.payments import status
from bazaar.payments.payouts.transfer import decode_transfer_calldata
from tests.fixtures.payments import (
    BUYER_WALLET,
    Deal,
    MakeDeal,
    get_payment,
    get_request,
    payouts_of,
)
from tests.fixtures.users import Account, MakeUser
from tests.payments.safety.support import (
    ADMIN_PAYMENTS,
    events,
    fund_with,
    safety_settings,
)

QUEUE = f"{ADMIN_PAYMENTS}/awaiting-confirmation"
REFUND_TO = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


async def held_back(db: Database, settings: Settings, make_deal: MakeDeal, price: str) -> Deal:
    deal = await make_deal(price=price)
    mine = safety_settings(settings, max_payment="100")
    payment = await fund_with(db, mine, deal.payment_id)
    assert payment.status == status.AWAITING_REVIEW
    return deal


async def post(
    client: httpx.AsyncClient, url: str, who: Account, body: object = None, key: str | None = None
) -> httpx.Response:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post(url, json=body, headers=headers)


async def test_guards_list_what_waits_oldest_first(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    first = await held_back(db, settings, make_deal, "150")
    second = await held_back(db, settings, make_deal, "250")
    await make_deal(price="5")  # pending: not in the queue
    answer = await client.get(QUEUE, headers=guard.headers)
    assert answer.status_code == 200, answer.text
    items = answer.json()["data"]["items"]
    assert [i["id"] for i in items] == [str(first.payment_id), str(second.payment_id)]
    assert items[0]["reviewReason"].startswith("payment of 150 USDC is above")
    assert (items[0]["amountPaid"], items[0]["senderAddress"]) == ("150", BUYER_WALLET)
    # Admins see it too; the parties and other users do not (the role is the scope).
    admin = await make_user(["admin"])
    assert (await client.get(QUEUE, headers=admin.headers)).status_code == 200
    for who in (first.buyer, first.seller):
        refused = await client.get(QUEUE, headers=who.headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "ROLE_REQUIRED")
    filtered = await client.get(QUEUE, params={"currency": "dai"}, headers=guard.headers)
    assert filtered.json()["data"]["items"] == []


async def test_approve_holds_the_money_and_funds_the_request(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    deal = await held_back(db, settings, make_deal, "150")
    url = f"{ADMIN_PAYMENTS}/{deal.payment_id}/approve"
    # The parties cannot decide for themselves.
    refused = await post(client, url, deal.buyer, {"note": "me"})
    assert refused.status_code == 403

    answer = await post(client, url, guard, {"note": "Known customer"}, key="approve-1")
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["status"], data["reviewedBy"], data["reviewNote"]) == (
        "held",
        str(guard.id),
        "Known customer",
    )
    payment = await get_payment(db, deal.payment_id)
    assert payment.status == status.HELD and payment.held_at is not None
    assert (await get_request(db, deal.request_id)).status == "funded"
    moves = await events(db, deal.payment_id)
    assert ("awaiting_review", "held", "guard.approved") in moves

    # The same key replays the answer; a new decision is refused.
    replay = await post(client, url, guard, {"note": "Known customer"}, key="approve-1")
    assert replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    again = await post(client, url, guard, None)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PAYMENT_NOT_AWAITING_REVIEW"
    assert [e for e in await events(db, deal.payment_id) if e[2] == "guard.approved"] == [
        ("awaiting_review", "held", "guard.approved")
    ]


async def test_reject_refunds_the_buyer_with_a_payout_instruction(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    deal = await held_back(db, settings, make_deal, "150.25")
    async with db.transaction() as session:  # the buyer gave a refund address when paying
        payment = await session.get_one(
            type(await get_payment(db, deal.payment_id)), deal.payment_id
        )
        payment.refund_address = REFUND_TO
    url = f"{ADMIN_PAYMENTS}/{deal.payment_id}/reject"
    missing = await post(client, url, guard, {})
    assert missing.status_code == 400
    blank = await post(client, url, guard, {"reason": "   "})
    assert blank.status_code == 400

    answer = await post(client, url, guard, {"reason": "Source of funds unclear"}, key="rj")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["status"] == "refunded"
    payment = await get_payment(db, deal.payment_id)
    assert (payment.status, payment.review_note) == (status.REFUNDED, "Source of funds unclear")
    # The request takes offers again: it was never funded.
    assert (await get_request(db, deal.request_id)).status == "open"
    [payout] = await payouts_of(db, deal.payment_id)
    assert (payout.kind, payout.recipient_id, payout.to_address) == (
        "refund",
        deal.buyer.id,
        REFUND_TO,
    )
    assert payout.amount == Decimal("150.25") and payout.amount_base_units == "150250000"
    assert decode_transfer_calldata(payout.unsigned_tx["data"]) == (REFUND_TO, 150_250_000)
    assert ("awaiting_review", "refunded", "guard.rejected") in await events(db, deal.payment_id)

    replay = await post(client, url, guard, {"reason": "Source of funds unclear"}, key="rj")
    assert replay.status_code == 200
    again = await post(client, url, guard, {"reason": "twice"})
    assert again.status_code == 409
    assert len(await payouts_of(db, deal.payment_id)) == 1


async def test_approve_racing_reject_has_one_outcome(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    admin = await make_user(["admin"])
    deal = await held_back(db, settings, make_deal, "300")
    base = f"{ADMIN_PAYMENTS}/{deal.payment_id}"
    calls = [post(client, f"{base}/approve", guard, {"note": f"ok {n}"}) for n in range(5)]
    calls += [post(client, f"{base}/reject", admin, {"reason": f"no {n}"}) for n in range(5)]
    answers = await asyncio.gather(*calls)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 9, [a.text for a in answers if a.status_code != 409]
    payment = await get_payment(db, deal.payment_id)
    decided = [e for e in await events(db, deal.payment_id) if e[0] == "awaiting_review"]
    assert len(decided) == 1 and decided[0][1] == payment.status
    async with db.session(False) as session:
        refunds = await session.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerTransaction)
            .where(
                LedgerTransaction.payment_id == deal.payment_id, LedgerTransaction.kind == "refund"
            )
        )
    assert refunds == (1 if payment.status == status.REFUNDED else 0)
    assert len(await payouts_of(db, deal.payment_id)) == refunds


async def test_a_payment_whose_request_moved_on_cannot_be_approved(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    deal = await make_deal(price="20")
    # Short money sits in partially_paid; a limit of 10 sends the rest to review.
    mine = safety_settings(settings, max_payment="10")
    await fund_with(db, mine, deal.payment_id, "5")
    payment = await fund_with(db, mine, deal.payment_id, "15")
    assert payment.status == status.AWAITING_REVIEW
    async with db.transaction() as session:  # the buyer cancelled meanwhile (as an admin could)
        request = await session.get_one(PurchaseRequest, deal.request_id)
        request.status = "cancelled"
    answer = await post(client, f"{ADMIN_PAYMENTS}/{deal.payment_id}/approve", guard, None)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "PAYMENT_NOT_APPROVABLE"
    assert (await get_payment(db, deal.payment_id)).status == status.AWAITING_REVIEW
    # Rejecting is what such a payment needs: everything paid goes back to the buyer.
    rejected = await post(
        client, f"{ADMIN_PAYMENTS}/{deal.payment_id}/reject", guard, {"reason": "cancelled"}
    )
    assert rejected.status_code == 200, rejected.text
    assert (await get_payment(db, deal.payment_id)).status == status.REFUNDED
    [payout] = await payouts_of(db, deal.payment_id)
    assert (payout.kind, payout.amount) == ("refund", Decimal("20"))
    unknown = await post(client, f"{ADMIN_PAYMENTS}/{uuid.uuid4()}/approve", guard, None)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "PAYMENT_NOT_FOUND"
