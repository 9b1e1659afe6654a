"""/api/admin/payouts: admins list payouts, fetch one with its unsigned transaction and mark
it sent with the hash; a hash is recorded for one payout only."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.fixtures.payments import SELLER_WALLET, Deliver, MakeDeal
from tests.fixtures.users import Account, MakeUser
from tests.payments.payouts.support import PAYOUTS, payout_row, released

HASH_A = "0x" + "a1" * 32
HASH_B = "0x" + "B2" * 32


async def sent(
    client: httpx.AsyncClient, who: Account, payout_id: uuid.UUID, tx_hash: str, key: str = ""
) -> httpx.Response:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post(
        f"{PAYOUTS}/{payout_id}/sent", json={"txHash": tx_hash}, headers=headers
    )


async def test_admin_fetches_the_unsigned_transaction_and_marks_it_sent(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
    make_user: MakeUser,
) -> None:
    admin = await make_user(["admin"])
    _deal, payout = await released(db, settings, make_deal, deliver)
    listed = await client.get(PAYOUTS, params={"status": "built"}, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]["items"]] == [str(payout.id)]
    assert "unsignedTx" not in listed.json()["data"]["items"][0]

    detail = await client.get(f"{PAYOUTS}/{payout.id}", headers=admin.headers)
    assert detail.status_code == 200, detail.text
    data = detail.json()["data"]
    assert (data["toAddress"], data["amountBaseUnits"]) == (SELLER_WALLET, payout.amount_base_units)
    assert data["unsignedTx"]["data"].startswith("0xa9059cbb")
    assert data["signerFills"] == ["nonce", "maxFeePerGas", "maxPriorityFeePerGas"]

    answer = await sent(client, admin, payout.id, HASH_B, key="mark-1")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["data"]["status"], answer.json()["data"]["txHash"]) == (
        "sent",
        HASH_B.lower(),
    )
    row = await payout_row(db, payout.id)
    assert (row.status, row.tx_hash, row.sent_by) == ("sent", HASH_B.lower(), admin.id)
    assert row.next_check_at is not None  # the verification sweep takes it next
    # The same hash again changes nothing; another hash for a sent payout is refused.
    assert (await sent(client, admin, payout.id, HASH_B)).status_code == 200
    assert (await sent(client, admin, payout.id, HASH_B, key="mark-1")).headers.get(
        "Idempotent-Replayed"
    ) == "true"
    other = await sent(client, admin, payout.id, HASH_A)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "PAYOUT_ALREADY_SENT")
    assert (await payout_row(db, payout.id)).tx_hash == HASH_B.lower()
    assert (await client.get(PAYOUTS, params={"status": "sent"}, headers=admin.headers)).json()[
        "data"
    ]["pagination"]["total"] == 1


async def test_one_hash_for_one_payout_even_when_two_race(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
    make_user: MakeUser,
) -> None:
    admin = await make_user(["admin"])
    _, first = await released(db, settings, make_deal, deliver)
    _, second = await released(db, settings, make_deal, deliver, price="30")
    answers = await asyncio.gather(
        sent(client, admin, first.id, HASH_A), sent(client, admin, second.id, HASH_A)
    )
    codes = sorted((a.status_code, a.json().get("error", {}).get("code")) for a in answers)
    assert codes == [(200, None), (409, "PAYOUT_TX_HASH_USED")]
    rows = [await payout_row(db, p.id) for p in (first, second)]
    assert sorted(r.status for r in rows) == ["built", "sent"]


async def test_bad_input_and_roles(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
    make_user: MakeUser,
) -> None:
    admin = await make_user(["admin"])
    guard = await make_user(["guard"])
    deal, payout = await released(db, settings, make_deal, deliver)
    for bad in ("0x1234", "a1" * 33, "0x" + "g" * 64):
        answer = await sent(client, admin, payout.id, bad)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_FAILED")
    missing = await sent(client, admin, uuid.uuid4(), HASH_A)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "PAYOUT_NOT_FOUND")
    assert (await client.get(f"{PAYOUTS}/not-an-id", headers=admin.headers)).status_code == 404
    # The seller it pays, a guard and strangers cannot see or mark it.
    for who in (deal.seller, guard):
        assert (await client.get(PAYOUTS, headers=who.headers)).status_code == 403
        assert (await sent(client, who, payout.id, HASH_A)).status_code == 403
    assert (await payout_row(db, payout.id)).status == "built"
