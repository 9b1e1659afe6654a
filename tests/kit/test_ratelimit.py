"""Rate limits as a client meets them: 429 envelopes, per-client counters, exemptions,
proxy-aware client addresses, Redis-shared counters across processes, failing open."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI

from bazaar.config import Settings
from bazaar.kit.counters import MemoryCounters
from bazaar.kit.db import Database
from bazaar.kit.ratelimit import get_rate_limits, limit_ai, limit_auth, limit_payment
from tests.conftest import REDIS_URL
from tests.ops.helpers import client_for, served, settings_like, started


async def _ok() -> dict[str, bool]:
    return {"ok": True}


def add_limited_routes(app: FastAPI) -> None:
    """Routes shaped like the real ones, each behind the limiter the real one uses.

    They go in front of the app's own routes so these tests do not depend on (or get
    shadowed by) the real auth, AI and payment endpoints.
    """
    with routes_first(app):
        _add_limited_routes(app)


@contextlib.contextmanager
def routes_first(app: FastAPI) -> Iterator[None]:
    """Routes added inside the block are matched before the app's own."""
    before = len(app.router.routes)
    yield
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added


def _add_limited_routes(app: FastAPI) -> None:
    app.add_api_route("/api/auth/login", _ok, methods=["POST"], dependencies=[Depends(limit_auth)])
    app.add_api_route("/api/auth/me", _ok, methods=["GET"])
    app.add_api_route("/api/ai/describe", _ok, methods=["POST"], dependencies=[Depends(limit_ai)])
    payment = [Depends(limit_payment)]
    app.add_api_route("/api/payment", _ok, methods=["POST"], dependencies=payment)
    app.add_api_route("/api/payment/export", _ok, methods=["GET"], dependencies=payment)
    app.add_api_route("/api/payment/{payment_id}", _ok, methods=["GET"], dependencies=payment)


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"


async def test_global_limit_refuses_the_request_after_the_allowance(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_global="3/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        add_limited_routes(app)
        remaining = []
        for _ in range(3):
            response = await client.get("/api/auth/me")
            assert response.status_code == 200
            remaining.append(response.headers["X-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        refused = await client.get("/api/auth/me")
        assert_rate_limited(refused, 3)
        # Outside /api nothing is limited: monitors can still reach /health.
        assert (await client.get("/health")).status_code in (200, 503)


async def test_counters_are_per_client_address(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_global="2/15 minutes")
    async with started(limited, db) as app:
        add_limited_routes(app)
        async with client_for(app, ("198.51.100.1", 1)) as first:
            for _ in range(2):
                assert (await first.get("/api/auth/me")).status_code == 200
            assert (await first.get("/api/auth/me")).status_code == 429
        async with client_for(app, ("198.51.100.2", 1)) as second:
            assert (await second.get("/api/auth/me")).status_code == 200


async def test_provider_webhooks_are_exempt_from_the_global_limit(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_global="1/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        webhooks = [
            "/api/payment/request-network/webhook",
            "/api/payment/request-network/webhook/retry",
            "/api/telegram/webhook",
        ]
        with routes_first(app):
            for hook in webhooks:
                app.add_api_route(hook, _ok, methods=["POST"])
        await client.get("/api/anything")
        assert (await client.get("/api/anything")).status_code == 429
        for _ in range(3):
            for hook in webhooks:
                assert (await client.post(hook)).status_code == 200


async def test_auth_limiter_covers_credential_routes_but_not_me(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_auth="2/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        add_limited_routes(app)
        assert (await client.post("/api/auth/login")).headers["X-RateLimit-Remaining"] == "1"
        assert (await client.post("/api/auth/login")).status_code == 200
        assert_rate_limited(await client.post("/api/auth/login"), 2)
        for _ in range(5):
            assert (await client.get("/api/auth/me")).status_code == 200


async def test_payment_limiter_exempts_polling_a_payment_by_id(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_payment="2/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        add_limited_routes(app)
        for _ in range(5):
            polled = await client.get(f"/api/payment/{uuid.uuid4()}")
            assert polled.status_code == 200
        assert (await client.post("/api/payment")).status_code == 200
        assert (await client.get("/api/payment/export")).status_code == 200
        assert_rate_limited(await client.post("/api/payment"), 2)
        assert_rate_limited(await client.get("/api/payment/export"), 2)
        assert (await client.get("/api/payment/abc123")).status_code == 200


async def test_ai_limiter(settings: Settings, db: Database, tmp_path: Path) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_ai="1/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        add_limited_routes(app)
        assert (await client.post("/api/ai/describe")).status_code == 200
        assert_rate_limited(await client.post("/api/ai/describe"), 1)
        # Limits are independent: the auth allowance is untouched.
        assert (await client.post("/api/auth/login")).status_code == 200


class LimitClock:
    """Moves an app's rate-limit windows forward as if time passed, instead of waiting: its
    memory counters read a clock the test turns; Redis's clock cannot be turned, so there
    the expiry of every counter of the app is brought nearer by the same amount."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.limits = get_rate_limits(app)
        self.redis_url = settings.redis_uri
        self.now = 0.0
        if self.redis_url is None:
            # The app's own storage kind, on our clock (before any request counts).
            self.limits.counters = MemoryCounters(clock=lambda: self.now)

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        if self.redis_url is None:
            return
        redis = aioredis.Redis.from_url(self.redis_url)
        try:
            async for key in redis.scan_iter(match=f"{self.limits.prefix}:*"):
                left = await redis.pttl(key)
                if left > seconds * 1000:
                    await redis.pexpire(key, int(left - seconds * 1000))
                elif left >= 0:
                    await redis.delete(key)  # its window has ended
        finally:
            await redis.aclose()


async def test_the_window_reopens_after_retry_after(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_auth="1/1 minute")
    async with started(limited, db) as app, client_for(app) as client:
        add_limited_routes(app)
        clock = LimitClock(app, limited)
        assert (await client.post("/api/auth/login")).status_code == 200
        refused = await client.post("/api/auth/login")
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        await clock.advance(retry_after / 2)
        assert (await client.post("/api/auth/login")).status_code == 429  # not before
        await clock.advance(retry_after / 2)
        assert (await client.post("/api/auth/login")).status_code == 200


async def test_forwarded_for_is_ignored_without_trust_proxy(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_global="2/15 minutes")
    async with started(limited, db) as app, client_for(app) as client:
        for n in range(2):
            spoofed = {"X-Forwarded-For": f"192.0.2.{n}"}
            assert (await client.get("/api/x", headers=spoofed)).status_code == 404
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "192.0.2.99"})
        ).status_code == 429


async def test_trust_proxy_true_uses_the_left_most_forwarded_address(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(
        settings, tmp_path, rate_limit_global="1/15 minutes", trust_proxy="true"
    )
    async with started(limited, db) as app, client_for(app) as client:
        first = {"X-Forwarded-For": "192.0.2.1, 10.0.0.2, 10.0.0.1"}
        assert (await client.get("/api/x", headers=first)).status_code == 404
        assert (await client.get("/api/x", headers=first)).status_code == 429
        other = {"X-Forwarded-For": "192.0.2.2, 10.0.0.2, 10.0.0.1"}
        assert (await client.get("/api/x", headers=other)).status_code == 404
        # No header: the socket peer is the client.
        assert (await client.get("/api/x")).status_code == 404


async def test_trust_proxy_hop_count_takes_the_nth_address_from_the_right(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    limited = settings_like(settings, tmp_path, rate_limit_global="1/15 minutes", trust_proxy="1")
    async with started(limited, db) as app, client_for(app) as client:
        # One trusted proxy appends the real client; whatever the client put before it is
        # not trusted, so varying it does not buy a fresh allowance.
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "1.1.1.1, 192.0.2.7"})
        ).status_code == 404
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "2.2.2.2, 192.0.2.7"})
        ).status_code == 429
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "192.0.2.8"})
        ).status_code == 404
    two_hops = settings_like(settings, tmp_path, rate_limit_global="1/15 minutes", trust_proxy="2")
    async with started(two_hops, db) as app, client_for(app) as client:
        # Header shorter than the hop count: the left-most address is the client.
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "192.0.2.9"})
        ).status_code == 404
        assert (
            await client.get("/api/x", headers={"X-Forwarded-For": "9.9.9.9, 192.0.2.9, 10.0.0.1"})
        ).status_code == 429


async def test_unreachable_redis_fails_open(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    # The warning it logs is checked on a real server in tests/kit/test_http.py.
    # Port 1 on loopback refuses connections at once: Redis "down" without waiting.
    broken = settings_like(
        settings,
        tmp_path,
        redis_uri="redis://127.0.0.1:1/0",
        rate_limit_global="1/15 minutes",
        rate_limit_auth="1/15 minutes",
    )
    async with started(broken, db) as app, client_for(app) as client:
        add_limited_routes(app)
        for _ in range(3):
            assert (await client.post("/api/auth/login")).status_code == 200
        health = (await client.get("/health")).json()["data"]
        assert health["redis"] == {"configured": True, "ok": False}
        assert health["status"] == "degraded"


async def test_two_processes_share_one_limit_through_redis(
    settings: Settings, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("needs the PostgreSQL+Redis suite: the SQLite suite runs without Redis")
    assert settings.pg_url
    env = {
        "PG_URL": settings.pg_url,
        "REDIS_URI": REDIS_URL,
        "RATE_LIMIT_GLOBAL": "5/15 minutes",
        # Both processes must count under one prefix; unique per run so parallel runs
        # on the same Redis never meet.
        "RATE_LIMIT_PREFIX": f"bazaar-test-shared-{uuid.uuid4().hex[:12]}",
        "LOG_LEVEL": "WARNING",
    }
    async with (
        served(env, tmp_path) as first,
        served(env, tmp_path) as second,
        httpx.AsyncClient() as client,
    ):
        statuses = []
        for n in range(6):
            server = first if n % 2 == 0 else second
            response = await client.get(f"{server.url}/api/nothing-here")
            statuses.append(response.status_code)
        assert statuses == [404, 404, 404, 404, 404, 429]
        assert response.json()["error"]["code"] == "RATE_LIMITED"
        assert int(response.headers["Retry-After"]) > 0
