"""One token registry for requests, offers, templates, shops and payments: known symbols,
decimals, and a contract on the network an offer or template names (kit/tokens.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from eth_utils import is_checksum_address

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.tokens import BUILTIN, build_registry
from tests.conftest import make_app
from tests.fixtures.marketplace import MakeShop
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    OFFERS,
    REQUESTS,
    accept,
    payments_of,
    post_offer,
    post_request,
    request_body,
)

SHOPS = "/api/marketplace/shop-settings"
TEMPLATES = "/api/marketplace/templates"
ANVIL_USDC = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first deployment
MOCK = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


def failure(r: httpx.Response) -> tuple[int, str, list[str]]:
    error = r.json()["error"]
    details = error.get("details") or []
    return r.status_code, error["code"], [d["path"] for d in details if isinstance(d, dict)]


# -- the registry ----------------------------------------------------------------------------


def test_builtin_contracts_are_checksummed_and_stablecoins_have_their_decimals() -> None:
    for symbol, (_, contracts) in BUILTIN.items():
        for chain_id, contract in contracts.items():
            assert is_checksum_address(contract), (symbol, chain_id)
    tokens = build_registry()
    assert [tokens.token(s).decimals for s in ("USDC", "USDT", "DAI")] == [6, 6, 18]
    for chain_id in (1, 8453, 137, 42161, 10, 11155111, 84532):
        assert tokens.deployment("USDC", chain_id).chain_id == chain_id
    assert tokens.deployment("usdc", 8453).contract == USDC_BASE


def test_configuration_adds_overrides_and_removes_deployments() -> None:
    tokens = build_registry(
        {
            "USDC": {"anvil": ANVIL_USDC.lower(), "137": None},
            "MOCK": {"decimals": 18, "31337": MOCK},
            "USDT": {"56": {"contract": MOCK, "decimals": 18}},
        }
    )
    local = tokens.deployment("USDC", 31337)
    assert (local.contract, local.decimals) == (ANVIL_USDC, 6)  # stored checksummed
    assert 137 not in tokens.token("USDC").networks
    assert tokens.deployment("MOCK", 31337).decimals == 18
    assert tokens.deployment("USDT", 56).decimals == 18  # BNB Chain's USDT has 18
    assert tokens.deployment("USDT", 1).decimals == 6
    assert tokens.symbols[:5] == ("USDC", "USDT", "DAI", "PYUSD", "EURC")


@pytest.mark.parametrize(
    "bad",
    [
        {"NEW": {"31337": MOCK}},  # a new token needs its decimals
        {"USDC": {"999999": MOCK}},  # a chain kit/wallets does not know
        {"USDC": {"31337": "0x123"}},
        {"USDC": {"31337": MOCK.lower().replace("e7f1", "E7f1")}},  # broken checksum
        {"USDC": {"decimals": 19}},
        {"US DC": {"31337": MOCK}},
    ],
)
def test_a_bad_token_configuration_stops_startup(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="TOKEN_CONTRACTS"):
        Settings(_env_file=None, token_contracts=bad)  # type: ignore[call-arg]


def test_amounts_finer_than_the_token_are_refused() -> None:
    tokens = build_registry()
    tokens.check_amount("USDC", Decimal("1.000001"), "price", network=8453)
    tokens.check_amount("USDC", Decimal("1.1000000"), "price")  # trailing zeros are no digits
    with pytest.raises(ValidationFailed):
        tokens.check_amount("USDC", Decimal("1.0000001"), "price", network=8453)
    tokens.check_amount("DAI", Decimal("0.000000000000000001"), "price", network=1)


# -- offers ----------------------------------------------------------------------------------


async def test_a_usdc_only_shop_offers_usdc_on_a_network_with_a_contract(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller, accepted_tokens=["USDC"])
    request = await post_request(client, buyer)

    async def offer(**fields: Any) -> httpx.Response:
        body = {"requestId": request["id"], "price": "40", "network": 8453, **fields}
        return await client.post(OFFERS, json=body, headers=seller.headers)

    for currency in ("DOGE", "ZZZZZZZZZZZZZZZZ", "DAI"):
        assert failure(await offer(currency=currency)) == (400, "VALIDATION_FAILED", ["currency"])
    assert failure(await offer(price="40.000000000000000001")) == (
        400,
        "VALIDATION_FAILED",
        ["price"],
    )
    assert failure(await offer(network=None))[2] == ["network"]
    body = {"requestId": request["id"], "price": "40"}
    missing = await client.post(OFFERS, json=body, headers=seller.headers)
    assert failure(missing)[2] == ["network"]
    # A network the registry knows, but with no USDC contract on it.
    assert failure(await offer(network="gnosis"))[2] == ["network"]
    made = await offer(price="40.123456", network="base")
    assert made.status_code == 201, made.text
    assert (made.json()["data"]["currency"], made.json()["data"]["network"]) == ("USDC", 8453)


async def test_an_edit_keeps_the_token_rules(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    url = f"{OFFERS}/{offer['id']}"
    for change, path in (
        ({"currency": "DOGE"}, "currency"),
        ({"currency": "USDT", "network": 11155111}, "network"),  # no USDT on Sepolia
        ({"price": "1.0000001"}, "price"),
        ({"network": None}, "network"),
    ):
        r = await client.patch(url, json=change, headers=seller.headers)
        assert failure(r)[:1] + failure(r)[2:] == (400, [path]), (change, r.text)
    r = await client.patch(url, json={"currency": "DAI", "price": "1.5"}, headers=seller.headers)
    assert r.status_code == 200, r.text


async def test_accepting_creates_a_payment_that_knows_its_chain_and_contract(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"], network="base")
    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 200, r.text
    payment = r.json()["data"]["payment"]
    assert (payment["currency"], payment["network"], payment["tokenContract"]) == (
        "USDC",
        8453,
        USDC_BASE,
    )
    [row] = await payments_of(db, request["id"])
    assert (row.network, row.token_contract) == (8453, USDC_BASE)


# -- requests, templates, shops --------------------------------------------------------------


async def test_requests_name_a_known_token_and_budget_within_its_decimals(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    async def create(**fields: Any) -> httpx.Response:
        return await client.post(REQUESTS, json=request_body(**fields), headers=buyer.headers)

    assert failure(await create(currency="DOGE")) == (400, "VALIDATION_FAILED", ["currency"])
    assert failure(await create(budgetMax="150.0000001"))[2] == ["budgetMax"]
    assert (await create(currency="DAI", budgetMax="150.000000000000000001")).status_code == 201
    request = await post_request(client, buyer)
    url = f"{REQUESTS}/{request['id']}"
    r = await client.patch(url, json={"currency": "ZZZZ"}, headers=buyer.headers)
    assert failure(r)[2] == ["currency"]
    r = await client.patch(url, json={"budgetMin": "1.0000001"}, headers=buyer.headers)
    assert failure(r)[2] == ["budgetMin"]


async def test_templates_follow_the_offer_rules(
    client: httpx.AsyncClient, seller: Account, make_shop: MakeShop
) -> None:
    await make_shop(seller, accepted_tokens=["USDC", "DAI"])
    base = {"title": "Oak lamp", "price": "25", "currency": "USDC", "network": 8453}

    async def create(**fields: Any) -> httpx.Response:
        return await client.post(TEMPLATES, json={**base, **fields}, headers=seller.headers)

    assert failure(await create(currency="USDT"))[2] == ["currency"]  # not accepted
    assert failure(await create(currency="DOGE"))[2] == ["currency"]
    assert failure(await create(network=None))[2] == ["network"]
    assert failure(await create(network="sepolia", currency="DAI"))[2] == ["network"]
    assert failure(await create(price="25.0000001"))[2] == ["price"]
    made = await create(currency="dai", price="25.000000000000000001")
    assert made.status_code == 201, made.text
    url = f"{TEMPLATES}/{made.json()['data']['id']}"
    r = await client.patch(url, json={"currency": "USDC"}, headers=seller.headers)
    assert failure(r)[2] == ["price"]  # 18 decimals do not fit USDC


async def test_shops_accept_only_known_tokens(client: httpx.AsyncClient, buyer: Account) -> None:
    r = await client.post(
        SHOPS, json={"name": "Coins", "acceptedTokens": ["USDC", "DOGE"]}, headers=buyer.headers
    )
    assert failure(r) == (400, "VALIDATION_FAILED", ["acceptedTokens.1"])
    r = await client.post(
        SHOPS,
        json={"name": "Coins", "autoAccept": {"enabled": False, "tokens": ["ZZZ"]}},
        headers=buyer.headers,
    )
    assert failure(r)[2] == ["autoAccept.tokens.0"]
    r = await client.post(
        SHOPS, json={"name": "Coins", "acceptedTokens": ["usdc", "USDC"]}, headers=buyer.headers
    )
    assert r.status_code == 201 and r.json()["data"]["acceptedTokens"] == ["USDC"]


# -- configuration: a local chain --------------------------------------------------------------


@pytest.fixture
async def local_chain(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app with USDC deployed on the local chain (31337) by configuration."""
    configured = settings.model_copy(
        update={"token_contracts": {"USDC": {"31337": ANVIL_USDC}, "MOCK": {"decimals": 2}}}
    )
    app = make_app(configured, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_configured_contracts_and_tokens_are_used(
    local_chain: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    make_user: MakeUser,
) -> None:
    seller = await make_user(["seller"])
    request = await post_request(local_chain, buyer)
    # Without the configuration there is no USDC on 31337.
    refused = await client.post(
        OFFERS,
        json={"requestId": request["id"], "price": "5", "network": 31337},
        headers=seller.headers,
    )
    assert failure(refused)[2] == ["network"]
    offer = await post_offer(local_chain, seller, request["id"], price="5", network="anvil")
    r = await accept(local_chain, buyer, offer["id"])
    assert r.status_code == 200, r.text
    [payment] = await payments_of(db, request["id"])
    assert (payment.network, payment.token_contract) == (31337, ANVIL_USDC)
    # A configured token without any contract can be asked for, not offered.
    mock = await local_chain.post(
        REQUESTS,
        json=request_body(currency="MOCK", budgetMin="1", budgetMax="1.25"),
        headers=buyer.headers,
    )
    assert mock.status_code == 201, mock.text
    too_fine = request_body(currency="MOCK", budgetMin="1", budgetMax="1.255")
    r = await local_chain.post(REQUESTS, json=too_fine, headers=buyer.headers)
    assert failure(r)[2] == ["budgetMax"]


@pytest.mark.parametrize("amount", ["1_000", "１２", "1e3"])
async def test_money_text_python_would_read_is_refused(
    client: httpx.AsyncClient, buyer: Account, seller: Account, amount: str
) -> None:
    r = await client.post(REQUESTS, json=request_body(budgetMax=amount), headers=buyer.headers)
    assert failure(r) == (400, "VALIDATION_FAILED", ["budgetMax"])
    request = await post_request(client, buyer)
    body = {"requestId": request["id"], "price": amount, "network": 8453}
    r = await client.post(OFFERS, json=body, headers=seller.headers)
    assert failure(r) == (400, "VALIDATION_FAILED", ["price"])
    r = await client.get(REQUESTS, params={"budgetMin": amount})
    assert r.status_code == 400
