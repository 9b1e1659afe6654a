"""`python -m bench.breakdown`: where an authenticated read spends its CPU, layer by layer.

Calls the ASGI apps directly in this process (no sockets, no load generator), one request
at a time, and reports CPU time per request (process time: every thread, so the SQLite
driver's worker thread counts too) — the best of several rounds, so a busy machine skews
it less than a throughput run. Each row adds one layer to the one above it:

  bare Starlette           the baseline app of bench/run.py
  FastAPI, no middleware   same JSON from a FastAPI route
  Bazaar stack, no DB      + our middleware (request id, access log, metrics, limits, CORS)
  ... route matched last   the same route placed after every real route: routing cost
  + unit of work           + a database session running `SELECT 1` and committing
  GET /api/auth/me         + JWT check and the user row (the real endpoint)
  GET /api/address         + the address list query, count and serialization
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.deps import InlineReadSession
from bazaar.kit.migrations import upgrade
from bench.common import add_server_options, pg_execute, replace_block

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- breakdown:begin -->", "<!-- breakdown:end -->"
Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
BODY = {"success": True, "data": {"id": "0b7c", "email": "bench@example.com", "roles": ["buyer"]}}


async def call(app: Asgi, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def cpu_per_request(
    app: Asgi, path: str, headers: list[tuple[bytes, bytes]], n: int, rounds: int
) -> float:
    for _ in range(50):
        status = await call(app, path, headers)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            await call(app, path, headers)
        best = min(best, (time.process_time() - started) / n)
    return best * 1000


def bazaar_settings(tmp: Path, pg_url: str | None, redis_uri: str | None) -> Settings:
    raised = "1000000000/15 minutes"
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        node_env="production",
        jwt_secret=secrets.token_hex(32),
        data_dir=tmp,
        pg_url=pg_url,
        redis_uri=redis_uri,
        rate_limit_prefix=f"bench-{secrets.token_hex(4)}",
        rate_limit_global=raised,
        rate_limit_auth=raised,
        worker_in_process=False,
        log_level=os.environ.get("LOG_LEVEL", "INFO"),
    )


async def breakdown(label: str, settings: Settings, n: int, rounds: int) -> list[tuple[str, float]]:
    from bazaar.main import create_app
    from bench.bare_app import app as bare

    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    app = create_app(settings, database=db)

    async def static() -> dict[str, Any]:
        return BODY

    async def unit_of_work(session: InlineReadSession) -> dict[str, Any]:
        await session.execute(sa.text("SELECT 1"))
        return BODY

    app.add_api_route("/api/_bench/last", static, methods=["GET"])
    # The probes go first in the route table, so their rows hold no route-matching cost.
    before = len(app.router.routes)
    app.add_api_route("/api/_bench/static", static, methods=["GET"])
    app.add_api_route("/api/_bench/uow", unit_of_work, methods=["GET"])
    probes = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = probes
    plain = FastAPI()
    plain.add_api_route("/static", static, methods=["GET"])
    rows: list[tuple[str, float]] = []
    try:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                answer = await client.post(
                    "/api/auth/register",
                    json={"email": "b@example.com", "password": "bench-Passw0rd-long", "name": "B"},
                )
                token = answer.json()["data"]["accessToken"]
                auth = {"Authorization": f"Bearer {token}"}
                address = {"fullName": "B", "line1": "1 Loop", "city": "Local", "country": "DE"}
                await client.post("/api/address", headers=auth, json=address)
            headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
            plan: list[tuple[str, Asgi, str]] = [
                ("bare Starlette", bare, "/api/auth/me"),
                ("FastAPI, no middleware", plain, "/static"),
                ("Bazaar stack, no DB", app, "/api/_bench/static"),
                ("... route matched last", app, "/api/_bench/last"),
                ("+ unit of work (SELECT 1)", app, "/api/_bench/uow"),
                ("GET /api/auth/me", app, "/api/auth/me"),
                ("GET /api/address", app, "/api/address"),
            ]
            for name, target, path in plan:
                rows.append((name, await cpu_per_request(target, path, headers, n, rounds)))
                print(f"  {label:<12} {name:<28} {rows[-1][1]:7.3f} ms CPU/request", flush=True)
    finally:
        await db.dispose()
    return rows


async def main_async(args: argparse.Namespace) -> dict[str, list[tuple[str, float]]]:
    columns: dict[str, list[tuple[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bazaar-breakdown-") as tmp:
        settings = bazaar_settings(Path(tmp), None, None)
        columns["SQLite"] = await breakdown("SQLite", settings, args.n, args.rounds)
    if args.skip_postgresql:
        return columns
    try:
        await pg_execute(args.pg_admin_url, "SELECT 1")
    except Exception:  # noqa: BLE001
        print("PostgreSQL not reachable: skipped")
        return columns
    name = f"bazaar_breakdown_{secrets.token_hex(4)}"
    await pg_execute(args.pg_admin_url, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="bazaar-breakdown-") as tmp:
            pg_url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + name
            settings = bazaar_settings(Path(tmp), pg_url, args.redis_url or None)
            columns["PostgreSQL+Redis"] = await breakdown("PG+Redis", settings, args.n, args.rounds)
    finally:
        await pg_execute(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return columns


def render(columns: dict[str, list[tuple[str, float]]], n: int, rounds: int) -> str:
    names = list(columns)
    lines = [
        BEGIN,
        f"Run: `python -m bench.breakdown` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"best of {rounds} rounds of {n} requests; CPU ms per request "
        f"(load average {os.getloadavg()[0]:.2f} at the end).",
        "",
        "| layer | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for i, (layer, _) in enumerate(columns[names[0]]):
        cells = " | ".join(f"{columns[name][i][1]:.3f}" for name in names)
        lines.append(f"| {layer} | {cells} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown")
    parser.add_argument("-n", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-postgresql", action="store_true")
    add_server_options(parser)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    columns = asyncio.run(main_async(args))
    block = render(columns, args.n, args.rounds)
    if replace_block(args.out, BEGIN, END, block):
        print(f"written to {args.out}")
    else:
        print(block)


if __name__ == "__main__":
    main()
