"""Prometheus metrics: request count and latency by method, route template and status.

The route label is the matched template (`/api/address/{address_id}`), never the raw path,
so ids in URLs cannot blow up the number of series; unmatched paths share one label.
Each app has its own registry (tests build many apps in one process). With several API
processes, Prometheus scrapes each process (see docs/performance.md).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.kit.errors import Unauthorized
from bazaar.kit.http import route_template

router = APIRouter()
# `*_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()

UNMATCHED = "<unmatched>"
# Sub-millisecond to seconds: the API's budget is p99 < 50 ms.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "bazaar_http_requests",
            "HTTP requests answered",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "bazaar_http_request_duration_seconds",
            "Time from request start to the end of the response",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )
        # labels() takes a lock and builds a tuple each call; cache the children instead.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request (pure ASGI: no per-request objects beyond a closure)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition. With METRICS_TOKEN set (required in production), a
    matching Bearer token is needed."""
    token = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("A valid metrics token is required")
    http_metrics: HttpMetrics = request.app.state.metrics
    return Response(http_metrics.render(), media_type=CONTENT_TYPE_LATEST)
