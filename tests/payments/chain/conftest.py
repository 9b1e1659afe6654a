"""Chain tests talk to the app configured for the test chain: `client` is that app's, so
the shared deal factory (`make_deal`) makes deals payable on anvil."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(chain_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return chain_client
