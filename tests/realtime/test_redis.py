"""Two server processes sharing Redis: an event committed by one reaches a socket connected
to the other (AsyncRedisManager)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.fixtures.users import MakeUser
from tests.marketplace.test_requests_support import REQUESTS, request_body
from tests.realtime.support import listening, live_server


async def test_an_event_crosses_processes_through_redis(
    settings: Settings, db: Database, tmp_path: Path, make_user: MakeUser
) -> None:
    if not settings.redis_uri:
        pytest.skip("the PostgreSQL suite runs with Redis")
    channel = f"bazaar-test-{uuid.uuid4().hex[:8]}"
    buyer = await make_user(["buyer"])
    async with (
        live_server(settings, tmp_path, REALTIME_CHANNEL=channel) as one,
        live_server(settings, tmp_path, REALTIME_CHANNEL=channel) as two,
        httpx.AsyncClient(base_url=two.url) as http,
    ):
        r = await http.post(REQUESTS, json=request_body(publish=False), headers=buyer.headers)
        assert r.status_code == 201, r.text
        request_id = r.json()["data"]["id"]
        async with listening(one.url, buyer.token) as socket:
            assert (await socket.join(f"request:{request_id}"))["ok"]
            published = await http.post(f"{REQUESTS}/{request_id}/publish", headers=buyer.headers)
            assert published.status_code == 200, published.text
            event, data = await socket.next()
            assert event == "request:updated"
            assert data["requestId"] == request_id
