"""The README's "Paying on a local chain" walkthrough, end to end: `bazaar dev chain` runs
in its own process (anvil from node_modules, TestUSD deployed, the dev buyer funded) and
prints the settings; the app runs on them; the development accounts sign in over HTTP;
`bazaar dev pay`, `bazaar dev sign-payout` and `bazaar ledger verify` run as the commands a
newcomer types. One request goes to `completed`, another to `refunded`, with real
transactions on anvil, and the ledger verifies clean afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.dev import chain as devchain
from bazaar.dev.chain import BUYER, SELLER, DevChain
from bazaar.kit.db import Database
from bazaar.users.seed import seed_users
from tests.conftest import make_app

BAZAAR = str(Path(sys.executable).with_name("bazaar"))
API = "http://testserver"


@pytest.fixture
def dev_chain(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`bazaar dev chain --port 0` running; the settings it printed, as variables."""
    try:
        devchain.anvil_binary()
    except devchain.AnvilMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the chain tests need anvil under CI=true: {exc}")
        pytest.skip(f"chain tests skipped: {exc}")
    log = (tmp_path / "dev-chain.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own command
        [BAZAAR, "dev", "chain", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=tmp_path,
        env={**_base_env(), "NODE_ENV": "development"},
    )
    assert process.stdout is not None
    exported: dict[str, str] = {}
    try:
        for line in process.stdout:  # blocks until the chain is ready and the lines printed
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exported[name] = value.strip("'")
            if name == "TRANSACTION_SAFETY_CONFIRMATIONS":
                break
        assert "RPC_URL_31337" in exported, (tmp_path / "dev-chain.log").read_text()
        yield exported
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        log.close()


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def _cli_env(settings: Settings, exported: dict[str, str]) -> dict[str, str]:
    env = {
        **_base_env(),
        **exported,
        "NODE_ENV": "test",
        "DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "WARNING",
    }
    if settings.pg_url:
        env["PG_URL"] = settings.pg_url
    return env


async def bazaar(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own command
            [BAZAAR, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    return await asyncio.to_thread(run)


@pytest.fixture
async def walkthrough_app(
    settings: Settings, db: Database, dev_chain: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    on_chain = settings.model_copy(
        update={
            "rpc_urls": {31337: dev_chain["RPC_URL_31337"]},
            "token_contracts": json.loads(dev_chain["TOKEN_CONTRACTS"]),
            "onchain_receiver_address": dev_chain["ONCHAIN_RECEIVER_ADDRESS"],
            "transaction_safety_confirmations": json.loads(
                dev_chain["TRANSACTION_SAFETY_CONFIRMATIONS"]
            ),
        }
    )
    app = make_app(on_chain, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=API) as http:
            yield http


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    token: str,
    body: Any = None,
    key: str | None = None,
    status: int = 200,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    answer = await http.request(method, url, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return answer.json()["data"]


async def login(http: httpx.AsyncClient, email: str, password: str) -> str:
    answer = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["data"]["accessToken"]
    return token


async def accepted_payment(
    http: httpx.AsyncClient, buyer: str, seller: str, title: str, price: str
) -> tuple[str, str]:
    request = await call(
        http,
        "POST",
        "/api/marketplace/requests",
        buyer,
        {
            "title": title,
            "description": "Walkthrough",
            "currency": "USDC",
            "isDigital": True,
            "publish": True,
        },
        status=201,
    )
    offer = await call(
        http,
        "POST",
        "/api/marketplace/offers",
        seller,
        {"requestId": request["id"], "price": price, "network": 31337, "deliveryDays": 3},
        status=201,
    )
    accepted = await call(
        http, "POST", f"/api/marketplace/offers/{offer['id']}/accept", buyer, {"version": 1}
    )
    return request["id"], accepted["payment"]["id"]


async def test_a_newcomer_completes_one_request_and_refunds_another(
    walkthrough_app: httpx.AsyncClient,
    dev_chain: dict[str, str],
    settings: Settings,
    db: Database,
) -> None:
    http = walkthrough_app
    env = _cli_env(settings, dev_chain)
    await seed_users(db, settings)  # `make run` seeds the development accounts
    buyer = await login(http, "buyer@bazaar.local", "Buyer123!dev")
    seller = await login(http, "seller@bazaar.local", "Seller123!dev")
    admin = await login(http, "admin@bazaar.local", "Admin123!dev")
    await call(
        http,
        "POST",
        "/api/marketplace/shop-settings",
        seller,
        {
            "name": "Dev Seller's Shop",
            "acceptedTokens": ["USDC"],
            "payoutWallets": {"31337": SELLER.address},
        },
        status=201,
    )
    token = json.loads(dev_chain["TOKEN_CONTRACTS"])["USDC"]["31337"]
    async with DevChain(dev_chain["RPC_URL_31337"]) as chain:
        buyer_start = await chain.balance(token, BUYER.address)
        seller_start = await chain.balance(token, SELLER.address)

    # 1. One request to completed.
    request_id, payment_id = await accepted_payment(http, buyer, seller, "Vintage radio", "120")
    paid = await bazaar(env, "dev", "pay", payment_id)
    assert paid.returncode == 0, paid.stderr
    assert "held" in paid.stderr
    payment = await call(http, "GET", f"/api/payment/{payment_id}", buyer)
    assert payment["status"] == "held"
    await call(
        http, "POST", f"/api/marketplace/requests/{request_id}/deliver", seller, {"note": "sent"}
    )
    done = await call(
        http, "POST", f"/api/marketplace/requests/{request_id}/complete", buyer, key="done-1"
    )
    assert done["status"] == "completed"
    payouts = await call(http, "GET", f"/api/admin/payouts?paymentId={payment_id}", admin)
    (release,) = payouts["items"]
    assert (release["kind"], release["toAddress"]) == ("release", SELLER.address)
    signed = await bazaar(env, "dev", "sign-payout", release["id"])
    assert signed.returncode == 0, signed.stderr
    assert "done" in signed.stderr
    fee = Decimal("120") * Decimal("2.5") / 100  # PLATFORM_FEE_PERCENT's default

    # 2. Another request to refunded (the seller gives the money back).
    request_id, payment_id = await accepted_payment(http, buyer, seller, "Film camera", "45.5")
    # A payout's transaction (money out of escrow) never funds a payment.
    sent = await call(http, "GET", f"/api/admin/payouts/{release['id']}", admin)
    reused = await http.post(
        "/api/payment/decentralized/save",
        json={"paymentId": payment_id, "txHash": sent["txHash"]},
        headers={"Authorization": f"Bearer {buyer}"},
    )
    assert reused.json()["error"]["code"] == "TX_HASH_USED"
    paid = await bazaar(env, "dev", "pay", payment_id)
    assert paid.returncode == 0, paid.stderr
    refunded = await call(http, "POST", f"/api/payment/{payment_id}/refund", seller, key="refund-1")
    assert refunded["status"] == "refunded"
    request = await call(http, "GET", f"/api/marketplace/requests/{request_id}", buyer)
    assert request["status"] == "refunded"
    payouts = await call(http, "GET", f"/api/admin/payouts?paymentId={payment_id}", admin)
    (refund,) = payouts["items"]
    assert (refund["kind"], refund["toAddress"]) == ("refund", BUYER.address)
    signed = await bazaar(env, "dev", "sign-payout", refund["id"])
    assert signed.returncode == 0, signed.stderr

    # The tokens really moved: the seller got the price less the fee, the buyer paid once.
    async with DevChain(dev_chain["RPC_URL_31337"]) as chain:
        seller_gain = await chain.balance(token, SELLER.address) - seller_start
        buyer_spent = buyer_start - await chain.balance(token, BUYER.address)
    assert seller_gain == int((Decimal("120") - fee) * 10**6)
    assert buyer_spent == 120 * 10**6

    verified = await bazaar(env, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
