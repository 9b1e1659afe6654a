"""Wire compatibility with the seed's frontend: the official npm `socket.io-client` v4,
run by node, against a live server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.fixtures.users import MakeUser
from tests.marketplace.test_requests_support import REQUESTS, request_body
from tests.realtime.support import live_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("node_client.mjs")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "socket.io-client").is_dir(),
    reason="node and `npm ci` (socket.io-client) are needed",
)


async def node_client(url: str, token: str, room: str, event: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), url, token, room, event,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), 30)
    assert raw, (await process.stderr.read()).decode() if process.stderr else "no output"
    value: dict[str, Any] = json.loads(raw)
    return value


async def test_official_client_connects_joins_and_receives(
    settings: Settings, db: Database, tmp_path: Path, make_user: MakeUser
) -> None:
    buyer = await make_user(["buyer"])
    async with (
        live_server(settings, tmp_path) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        r = await http.post(REQUESTS, json=request_body(publish=False), headers=buyer.headers)
        assert r.status_code == 201, r.text
        request_id = r.json()["data"]["id"]
        room = f"request:{request_id}"

        client = await node_client(server.url, buyer.token, room, "request:updated")
        assert await line(client) == {"joined": {"ok": True, "room": room}}
        published = await http.post(f"{REQUESTS}/{request_id}/publish", headers=buyer.headers)
        assert published.status_code == 200, published.text
        got = await line(client)
        assert got["event"] == "request:updated"
        assert got["data"]["requestId"] == request_id
        assert await asyncio.wait_for(client.wait(), 30) == 0

        # A bad token is refused with the code the frontend can act on.
        refused = await node_client(server.url, "not-a-jwt", room, "request:updated")
        answer = await line(refused)
        assert answer["refused"]["data"]["code"] == "INVALID_TOKEN"
        assert answer["refused"]["message"] == "Invalid or expired access token"
        await refused.wait()
