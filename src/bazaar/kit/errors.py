"""AppError and the response envelope; one handler renders every error kind."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("bazaar.errors")


class AppError(Exception):
    """A business error with a stable UPPER_SNAKE code and an HTTP status."""

    status_code = 400
    code = "BAD_REQUEST"
    message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class ValidationFailed(AppError):
    status_code = 400
    code = "VALIDATION_FAILED"
    message = "Validation failed"

    @classmethod
    def on(cls, path: str, msg: str) -> ValidationFailed:
        return cls(msg, details=[{"path": path, "msg": msg}])


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    message = "Authentication required"


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "You do not have permission to do this"


class RoleRequired(Forbidden):
    code = "ROLE_REQUIRED"
    message = "This action requires another role"

    @classmethod
    def any_of(cls, *roles: str) -> RoleRequired:
        return cls(f"This action requires the {' or '.join(roles)} role")


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    message = "Conflict"


class InvalidStateTransition(Conflict):
    code = "INVALID_STATE_TRANSITION"
    message = "This action is not allowed in the current state"


class FeatureDisabled(AppError):
    status_code = 503
    code = "FEATURE_DISABLED"
    message = "This feature is not configured on this server"


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    message = "Too many requests, try again later"


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


# FastAPI's 400 for a body it could not decode (not UTF-8).
_UNPARSABLE_BODY = "There was an error parsing the body"


def envelope_error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"success": False, "error": error}, status_code=status, headers=headers)


def _loc_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or (str(loc[0]) if loc else "")


def validation_details(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    details = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            return "Malformed JSON body", [{"path": "body", "msg": "Malformed JSON"}]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        details.append({"path": _loc_path(tuple(err.get("loc", ()))), "msg": msg})
    first = details[0] if details else {"path": "", "msg": "invalid"}
    message = f"{first['path']}: {first['msg']}" if first["path"] else first["msg"]
    return message, details


def allowed_methods(request: Request) -> list[str]:
    """Every method the requested path takes, for a 405's `Allow`.

    The router answers 405 with the methods of the first route whose path matched, but a
    path often has one route per method (`GET /x/{id}`, `PATCH /x/{id}`). The most specific
    templates that match win: `/offers/mine` takes what its own route takes, not what
    `/offers/{ref}` does."""
    path = request.scope["path"]
    found: dict[int, set[str]] = {}
    for context in iter_route_contexts(request.app.routes):
        methods, regex = context.methods, getattr(context, "path_regex", None)
        if methods and regex is not None and regex.match(path):
            params = context.path_format.count("{") if context.path_format else 0
            found.setdefault(params, set()).update(methods)
    return sorted(found[min(found)]) if found else []


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return envelope_error(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = validation_details(exc)
        code = "MALFORMED_JSON" if message == "Malformed JSON body" else "VALIDATION_FAILED"
        return envelope_error(400, code, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            # A JSON body that is not UTF-8: malformed JSON like any other.
            details = [{"path": "body", "msg": "Malformed JSON"}]
            return envelope_error(400, "MALFORMED_JSON", "Malformed JSON body", details)
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail) if exc.detail else code.replace("_", " ").capitalize()
        if exc.status_code == 404:
            message = f"Route {request.method} {request.url.path} not found"
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return envelope_error(exc.status_code, code, message, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A uniqueness/foreign-key race the service could not see coming; nothing was stored.
        log.warning("integrity_error", path=request.url.path, error=str(exc.orig)[:200])
        return envelope_error(409, "CONFLICT", "The change conflicts with existing data")
