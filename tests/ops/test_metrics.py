"""GET /metrics: Prometheus text with request counts and latency by route template."""

from __future__ import annotations

import re
from pathlib import Path

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.ops.helpers import client_for, platform_client, settings_like, started


async def _item(item_id: str) -> dict[str, str]:
    return {"id": item_id}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series, labels in any order."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


async def test_requests_are_counted_by_route_template_not_raw_path(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    async with started(settings_like(settings, tmp_path), db) as app, client_for(app) as client:
        app.add_api_route("/api/_probe/items/{item_id}", _item, methods=["GET"])
        for item_id in ("a1", "b2", "c3"):
            assert (await client.get(f"/api/_probe/items/{item_id}")).status_code == 200
        await client.get("/api/_probe/nothing/9f8e7d")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/api/_probe/items/{item_id}"
    counted = sample(text, "bazaar_http_requests_total", method="GET", route=route, status="200")
    assert counted == 3
    assert (
        sample(text, "bazaar_http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )
    timed = sample(
        text, "bazaar_http_request_duration_seconds_count", method="GET", route=route, status="200"
    )
    assert timed == 3
    assert sample(text, "bazaar_http_request_duration_seconds_bucket", route=route, le="+Inf") == 3
    # Raw ids never become label values.
    for raw in ("a1", "b2", "c3", "9f8e7d"):
        assert f"/{raw}" not in text
    assert "process_resident_memory_bytes" in text


async def test_metrics_token_guards_the_endpoint_when_set(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    guarded = settings_like(settings, tmp_path, metrics_token="scrape-secret")
    async with platform_client(guarded, db) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200
        assert "bazaar_http_requests_total" in allowed.text


async def test_labels_are_the_full_route_template_with_the_router_prefix(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """Labels lost the router prefix (`/{ref}` mixed requests, offers, categories and admin
    users) and routes at a router's root were `<unmatched>`."""
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        await client.get("/api/marketplace/requests")
        await client.get("/api/marketplace/requests/0123456789abcdef01234567")
        await client.get("/api/marketplace/categories/nope-nope")
        await client.post("/api/auth/login", json={"email": "a@b.example", "password": "x" * 9})
        text = (await client.get("/metrics")).text
    routes = set(re.findall(r'bazaar_http_requests_total\{[^}]*route="([^"]*)"', text))
    assert {
        "/api/marketplace/requests",
        "/api/marketplace/requests/{ref}",
        "/api/marketplace/categories/{ref}",
        "/api/auth/login",
    } <= routes
    assert "/{ref}" not in routes and "/login" not in routes
