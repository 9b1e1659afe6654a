"""Every failure a client can cause or meet comes back as the error envelope (SPEC §1), and
the cross-cutting middleware (request id, security headers, CORS, logs) does its job."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import Field

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.deps import ReadSession
from bazaar.kit.schemas import Input
from tests.ops.helpers import client_for, served, settings_like, started

TEN_MB = 10 * 1024 * 1024


class Widget(Input):
    name: str = Field(min_length=2)
    quantity: int = Field(ge=1)


async def _create_widget(widget: Widget) -> dict[str, Any]:
    return {"success": True, "data": widget.model_dump(by_alias=True)}


async def _broken(session: ReadSession) -> None:
    # A bug that reaches the database: the driver's message quotes the SQL.
    await session.execute(sa.text("SELECT secret_column FROM table_that_does_not_exist"))


@pytest.fixture
async def probe_app(settings: Settings, db: Database, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app_settings = settings_like(settings, tmp_path, frontend_url="https://shop.example")
    async with started(app_settings, db) as app:
        app.add_api_route("/api/_probe/widgets", _create_widget, methods=["POST"])
        app.add_api_route("/api/_probe/broken", _broken, methods=["GET"])
        yield app


@pytest.fixture
async def probe(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(probe_app) as client:
        yield client


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


async def test_unknown_api_route_is_a_404_envelope(probe: httpx.AsyncClient) -> None:
    error = error_of(await probe.get("/api/no/such/thing"), 404, "NOT_FOUND")
    assert "/api/no/such/thing" in error["message"]


async def test_wrong_method_is_a_405_envelope(probe: httpx.AsyncClient) -> None:
    response = await probe.delete("/api/_probe/widgets")
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["allow"]


async def test_body_over_10_mb_with_content_length_is_a_413(probe: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * TEN_MB + b'", "quantity": 1}'
    response = await probe.post(
        "/api/_probe/widgets", content=big, headers={"content-type": "application/json"}
    )
    error_of(response, 413, "PAYLOAD_TOO_LARGE")


async def test_chunked_body_over_10_mb_is_a_413(probe: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'", "quantity": 1}'

    response = await probe.post(
        "/api/_probe/widgets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    error_of(response, 413, "PAYLOAD_TOO_LARGE")


async def test_body_just_under_the_limit_is_accepted(probe: httpx.AsyncClient) -> None:
    name = "x" * (TEN_MB - 100)
    response = await probe.post("/api/_probe/widgets", json={"name": name, "quantity": 1})
    assert response.status_code == 200
    assert response.json()["data"]["quantity"] == 1


async def test_malformed_json_is_a_400(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/api/_probe/widgets",
        content=b'{"name": "ab", ',
        headers={"content-type": "application/json"},
    )
    error = error_of(response, 400, "MALFORMED_JSON")
    assert error["details"] == [{"path": "body", "msg": "Malformed JSON"}]


async def test_invalid_input_is_validation_failed_with_details(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/api/_probe/widgets", json={"name": "a", "quantity": 0})
    error = error_of(response, 400, "VALIDATION_FAILED")
    paths = {detail["path"] for detail in error["details"]}
    assert paths == {"name", "quantity"}
    assert all(detail["msg"] for detail in error["details"])


async def test_unknown_field_is_refused(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/api/_probe/widgets", json={"name": "ab", "quantity": 1, "isAdmin": True}
    )
    error = error_of(response, 400, "VALIDATION_FAILED")
    assert error["details"][0]["path"] == "isAdmin"


async def test_unexpected_error_is_a_500_envelope_without_internals(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/api/_probe/broken", headers={"X-Request-Id": "support-ticket-42"})
    error = error_of(response, 500, "INTERNAL_ERROR")
    assert error["details"] == {"requestId": "support-ticket-42"}
    assert response.headers["X-Request-Id"] == "support-ticket-42"
    text = response.text.lower()
    for leak in ("traceback", "select", "secret_column", "table_that_does_not_exist", ".py"):
        assert leak not in text


async def test_request_id_is_generated_when_absent(probe: httpx.AsyncClient) -> None:
    first = (await probe.get("/health")).headers["X-Request-Id"]
    second = (await probe.get("/health")).headers["X-Request-Id"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


async def test_request_id_is_propagated_when_well_formed(probe: httpx.AsyncClient) -> None:
    given = f"edge-{uuid.uuid4()}"
    assert (await probe.get("/health", headers={"X-Request-Id": given})).headers[
        "X-Request-Id"
    ] == given
    # Something that could forge log lines is replaced, not echoed.
    hostile = "abc injected=1 " + "x" * 200
    echoed = (await probe.get("/health", headers={"X-Request-Id": hostile})).headers["X-Request-Id"]
    assert echoed != hostile and len(echoed) == 32


async def test_security_headers_on_success_and_error(probe: httpx.AsyncClient) -> None:
    for response in (await probe.get("/health"), await probe.get("/api/nope")):
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "SAMEORIGIN"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]


async def test_cors_preflight_from_the_frontend_is_allowed_with_credentials(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.options(
        "/api/_probe/widgets",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    # A real request from the frontend can read the response and our custom headers.
    simple = await probe.get("/api/nope", headers={"Origin": "https://shop.example"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "x-request-id" in simple.headers["Access-Control-Expose-Headers"].lower()


async def test_cors_preflight_from_another_origin_is_refused(probe: httpx.AsyncClient) -> None:
    response = await probe.options(
        "/api/_probe/widgets",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    # In the envelope like every other error (it was a plain-text 400).
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "CORS_REJECTED"
    simple = await probe.get("/api/nope", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_preflight_for_a_method_outside_the_list_is_an_envelope(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.options(
        "/api/_probe/widgets",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "TRACE"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "CORS_REJECTED"
    assert error["details"] == [{"path": "method", "msg": "not allowed"}]


async def test_log_lines_carry_the_request_id(tmp_path: Path) -> None:
    """On a real server (JSON logs in production), every line of a request has its id:
    the access line and a warning raised deep inside (Redis down → limits fail open)."""
    env = {
        "NODE_ENV": "production",
        "JWT_SECRET": "x" * 48,
        "METRICS_TOKEN": "m" * 24,
        "LOG_LEVEL": "INFO",
        "REDIS_URI": "redis://127.0.0.1:1/0",
        "RATE_LIMIT_PREFIX": f"bazaar-test-{uuid.uuid4().hex[:8]}",
    }
    async with served(env, tmp_path) as server, httpx.AsyncClient() as client:
        response = await client.get(
            f"{server.url}/api/nothing", headers={"X-Request-Id": "trace-7f3a"}
        )
        assert response.status_code == 404
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    lines = []
    for raw in server.log().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # uvicorn's own start/stop lines are plain text
    mine = [line for line in lines if line.get("request_id") == "trace-7f3a"]
    events = {line["event"] for line in mine}
    assert {"request", "rate_limit_storage_unavailable"} <= events
    access = next(line for line in mine if line["event"] == "request")
    assert access["status"] == 404 and access["path"] == "/api/nothing"
    assert access["client"] == "127.0.0.1"
