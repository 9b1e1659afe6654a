"""ASGI middleware: request id + context logging, body size limit, security headers,
crash-to-envelope. Pure ASGI (no BaseHTTPMiddleware) to keep the hot path cheap."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.config import Settings
from bazaar.kit.errors import envelope_error

log = structlog.get_logger("bazaar.http")
access_log = structlog.get_logger("bazaar.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-dns-prefetch-control", b"off"),
    (b"x-download-options", b"noopen"),
    (b"x-permitted-cross-domain-policies", b"none"),
    (b"origin-agent-cluster", b"?1"),
    (
        b"content-security-policy",
        b"default-src 'self';base-uri 'self';font-src 'self' data:;form-action 'self';"
        b"frame-ancestors 'self';img-src 'self' data:;object-src 'none';"
        b"script-src 'self';style-src 'self' 'unsafe-inline';upgrade-insecure-requests",
    ),
]


def error_body(status: int, code: str, message: str, details: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"success": False, "error": error}).encode()


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Request id (propagated or generated), access log, security headers, 500 envelope."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hsts = settings.is_production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = list(message.get("headers", []))
                headers.append(rid_header)
                headers.extend(SECURITY_HEADERS)
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=15552000"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if not status_holder["started"]:
                body = error_body(
                    500,
                    "INTERNAL_ERROR",
                    "Something went wrong on our side. Quote the request id when reporting it.",
                    {"requestId": request_id},
                )
                await send_json(send_wrapper, 500, body)
        finally:
            access_log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=(scope.get("state") or {}).get("client_ip"),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MB" if n >= mib and n % mib == 0 else f"{n} bytes"


# NUL and other control characters have no place in a path; NUL in a query string
# (`%00`) cannot be stored by PostgreSQL either (a 500 before). One rule for every route's
# path and query parameters; bodies are checked by `Input` (kit/schemas.py).
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _url_problem(scope: Scope) -> bytes | None:
    where = None
    if _PATH_CONTROL.search(scope["path"]):
        where = "path"
    elif b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
        where = "query"
    if where is None:
        return None
    detail = [{"path": where, "msg": "must not contain NUL or control characters"}]
    return error_body(400, "VALIDATION_FAILED", "Invalid request", detail)


class BodyLimitMiddleware:
    """Refuse what no endpoint may receive: a body over the limit (413 envelope, by header
    or while streaming), and a path or query string with NUL or control characters (400
    VALIDATION_FAILED)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = error_body(
            413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {_size(max_bytes)}"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad_url = _url_problem(scope)
        if bad_url is not None:
            await send_json(send, 400, bad_url)
            return
        too_large = self.too_large
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        await send_json(send, 413, too_large)
                        return
                except ValueError:
                    await send_json(send, 400, error_body(400, "BAD_REQUEST", "Bad length"))
                    return
        received = 0
        refused = False
        response_started = False

        # Frameworks turn errors raised while reading the body into their own 400, so an
        # overflow is answered here, at once, and the app then sees a disconnected client.
        async def limited_receive() -> Message:
            nonlocal received, refused, response_started
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not response_started:
                        response_started = True
                        await send_json(send, 413, too_large)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 went out already; drop the app's late answer
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with refused preflights in the envelope.

    Starlette answers a preflight from an origin, method or header outside the allow-list
    with a plain-text 400; every other error of the API is JSON (`CORS_REJECTED`)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return envelope_error(
            400,
            "CORS_REJECTED",
            f"This cross-origin request is not allowed ({refused})",
            details=[{"path": part.strip(), "msg": "not allowed"} for part in refused.split(",")],
            headers=headers,
        )


def route_template(scope: Scope) -> str | None:
    """The full template of the route that matched (`/api/payment/{payment_id}`), router
    prefixes included, or None before routing or when nothing matched.

    FastAPI nests included routers: `scope["route"]` is the route as its own router knows
    it (`/{payment_id}`, or `""` at the router's root); the full template is on the
    effective route FastAPI resolved."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(effective, "path_format", None) or getattr(scope.get("route"), "path", None)
    return str(path) if path else None
