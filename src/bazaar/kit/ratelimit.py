"""Rate limits (SPEC §1, seed §3): auth, payment, AI per route; a global limit on /api/*.

Fixed windows per client address, as express-rate-limit counts them: one counter per
(limit, client) that starts at the first hit and expires with its window. Counters live in
process memory, or in Redis when REDIS_URI is set so every API process shares them.

Route limiters are FastAPI dependencies::

    @router.post("/login", dependencies=[Depends(limit_auth)])

A refused request is a 429 `RATE_LIMITED` envelope with `Retry-After` (seconds) and
`X-RateLimit-Limit` / `X-RateLimit-Remaining`; allowed /api responses carry the two
X-RateLimit headers of the tightest limit that applied.

If Redis stops answering, requests are let through (fail open) and a warning is logged:
a broken limiter must not take the API down. The limiter then leaves Redis alone for a few
seconds so each request does not wait on a dead connection.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from limits import RateLimitItem, parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.config import Settings
from bazaar.kit.clientip import resolve_client_ip
from bazaar.kit.counters import Counters, MemoryCounters, RedisCounters
from bazaar.kit.errors import RateLimited
from bazaar.kit.http import error_body, route_template, send_json

log = structlog.get_logger("bazaar.ratelimit")

# Webhooks are called by Request Network and Telegram from a few addresses at their own
# pace; limiting them would drop payment confirmations (seed §3).
GLOBAL_EXEMPT_PREFIXES = ("/api/payment/request-network/webhook", "/api/telegram/webhook")
# `GET /api/payment/{id}` is polled by the checkout page while a payment settles.
_PAYMENT_POLL_ROUTE = re.compile(r"^/api/payment/\{[^/{}]+\}/?$")
REDIS_RETRY_AFTER_FAILURE = 5.0  # seconds without Redis after an error


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def key_prefix(settings: Settings) -> str:
    """RATE_LIMIT_PREFIX, else a shared default — except under NODE_ENV=test, where each app
    gets its own so test apps sharing one Redis never see each other's counters."""
    if settings.rate_limit_prefix:
        return settings.rate_limit_prefix
    if settings.node_env.lower() == "test":
        return f"bazaar-test-{uuid.uuid4().hex[:12]}"
    return "bazaar-rl"


def make_counters(settings: Settings, prefix: str) -> Counters:
    if not settings.redis_uri:
        return MemoryCounters()
    return RedisCounters(settings.redis_uri, prefix, password=settings.redis_password)


class RateLimits:
    """The app's limits and their counter storage (one per app, in app.state.rate_limits)."""

    def __init__(self, settings: Settings, counters: Counters | None = None) -> None:
        self.prefix = key_prefix(settings)
        self.counters = counters or make_counters(settings, self.prefix)
        self.backend = "redis" if settings.redis_uri else "memory"
        self.hops = settings.trusted_hops
        self.items: dict[str, RateLimitItem] = {
            "auth": parse(settings.rate_limit_auth),
            "payment": parse(settings.rate_limit_payment),
            "ai": parse(settings.rate_limit_ai),
            "global": parse(settings.rate_limit_global),
            "mail": parse(settings.rate_limit_mail),
        }
        self._paused_until = 0.0

    async def hit(self, name: str, client: str) -> Decision:
        """Count one request of `client` against limit `name`."""
        item = self.items[name]
        if self._paused_until and time.monotonic() < self._paused_until:
            return Decision(True, item.amount, item.amount)
        key = item.key_for(name, client)
        try:
            count, seconds_left = await self.counters.hit(key, item.get_expiry())
        except Exception as exc:  # noqa: BLE001 - any storage failure means "fail open"
            self._paused_until = time.monotonic() + REDIS_RETRY_AFTER_FAILURE
            log.warning(
                "rate_limit_storage_unavailable",
                backend=self.backend,
                error=f"{type(exc).__name__}: {exc}"[:200],
                action="allowing requests without limits",
                retry_in_s=REDIS_RETRY_AFTER_FAILURE,
            )
            return Decision(True, item.amount, item.amount)
        if count <= item.amount:
            return Decision(True, item.amount, item.amount - count)
        return Decision(False, item.amount, 0, max(1, math.ceil(seconds_left)))

    async def check(self) -> bool:
        """Whether the counter storage answers (always, in memory)."""
        return await self.counters.check()

    async def close(self) -> None:
        await self.counters.close()


def get_rate_limits(app: Any) -> RateLimits:
    """The app's RateLimits, created from its settings on first use."""
    limits = getattr(app.state, "rate_limits", None)
    if limits is None:
        limits = RateLimits(app.state.settings)
        app.state.rate_limits = limits
    return limits  # type: ignore[no-any-return]


def _remember(scope: Scope, decision: Decision) -> None:
    """Keep the tightest decision so the response advertises the limit closest to biting."""
    state = scope.setdefault("state", {})
    current: Decision | None = state.get("rate_limit")
    if current is None or decision.remaining < current.remaining:
        state["rate_limit"] = decision


async def _enforce(request: Request, name: str) -> None:
    limits = get_rate_limits(request.app)
    client = resolve_client_ip(request.scope, limits.hops)
    decision = await limits.hit(name, client)
    _remember(request.scope, decision)
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests, try again in {decision.retry_after} seconds",
            headers=decision.headers(),
        )


async def limit_auth(request: Request) -> None:
    """Credential endpoints: RATE_LIMIT_AUTH (10 per 15 minutes per client)."""
    await _enforce(request, "auth")


async def limit_payment(request: Request) -> None:
    """Payment endpoints: RATE_LIMIT_PAYMENT (30 per 15 minutes per client).

    `GET /api/payment/{id}` is exempt (the checkout page polls it): the check is skipped for
    a GET whose matched route template is `/api/payment/{<one path parameter>}`, so the
    dependency can sit on the whole payment router and fixed paths such as
    `GET /api/payment/export` stay limited.
    """
    polling = _PAYMENT_POLL_ROUTE.match(route_template(request.scope) or "")
    if request.method in ("GET", "HEAD") and polling:
        return
    await _enforce(request, "payment")


async def mail_cooldown(request: Request, *subjects: str) -> None:
    """Refuse (429, `Retry-After`) a request that would send mail to a recipient or for an
    account that got one less than RATE_LIMIT_MAIL ago (default one a minute).

    `subjects` name who the mail is about, e.g. `address:<email>` and `account:<id>`. An
    address counts whether or not an account uses it, so the answer reveals nothing; it is
    hashed before it becomes a counter key. Every subject is counted, then the tightest
    decision wins."""
    limits = get_rate_limits(request.app)
    decisions = []
    for subject in subjects:
        digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
        decisions.append(await limits.hit("mail", digest))
    refused = [d for d in decisions if not d.allowed]
    if refused:
        wait = max(d.retry_after for d in refused)
        raise RateLimited(
            f"An email was sent here moments ago; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


async def limit_ai(request: Request) -> None:
    """AI endpoints: RATE_LIMIT_AI (20 per 15 minutes per client)."""
    await _enforce(request, "ai")


class GlobalRateLimitMiddleware:
    """RATE_LIMIT_GLOBAL on every /api/* request except the provider webhooks.

    Also writes the X-RateLimit headers of the tightest limit on every /api response.
    """

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if path.startswith(GLOBAL_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = resolve_client_ip(scope, self.limits.hops)
        decision = await self.limits.hit("global", client)
        if not decision.allowed:
            body = error_body(
                429,
                "RATE_LIMITED",
                f"Too many requests, try again in {decision.retry_after} seconds",
            )
            headers = [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]
            await send_json(send, 429, body, headers)
            return
        _remember(scope, decision)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A route limiter's 429 already carries its own (tighter) numbers.
                if not any(name == b"x-ratelimit-limit" for name, _ in headers):
                    tightest: Decision = scope["state"]["rate_limit"]
                    headers.append((b"x-ratelimit-limit", str(tightest.limit).encode()))
                    headers.append((b"x-ratelimit-remaining", str(tightest.remaining).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
