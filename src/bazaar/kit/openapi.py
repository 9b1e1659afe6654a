"""The OpenAPI document says what the server answers: every error in the envelope.

- The envelope is one component, `ErrorResponse`; each error response narrows its
  `error.code` to the codes that status can carry on that route.
- A route declares its domain errors by class, grouped by status for it:
  `@router.post(..., responses=errors(OfferNotFound, OfferChanged))`.
- A dependency declares what it refuses once, with `@raises(...)`, and every route that
  depends on it documents those answers (the auth dependencies: 401, 403 ...).
- What every route answers by construction is derived from the route itself: 400
  `VALIDATION_FAILED` when it takes any input, `MALFORMED_JSON` and 413 when it takes a body,
  404 `NOT_FOUND` when a path parameter can miss every route, 409 `CONFLICT` when it
  writes (a race the database refuses), 429 under /api (the global limiter), 500.
  FastAPI's 422, which this server never sends, is removed.
- Request schemas state rules enforced before any endpoint runs: no NUL in any text, no
  control character in a path; a body's text is trimmed, so a minimum length needs
  something other than whitespace; an optional body field that refuses an explicit null
  (asked of the model itself) is documented without `null`.

`install_openapi(app)` makes `app.openapi()` (served at /openapi.json and written by
`bazaar openapi`) apply all of it.
"""

from __future__ import annotations

import http.client
import re
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field, ValidationError

from bazaar.kit.db import SessionKind
from bazaar.kit.deps import route_session_kind
from bazaar.kit.errors import AppError, Conflict, RateLimited, ValidationFailed
from bazaar.kit.fields import TEXT_PATTERNS, VISIBLE, WHITESPACE, text_pattern

ErrorKind = type[AppError] | AppError
AuthMode = Literal["required", "optional"]
C = TypeVar("C", bound=Callable[..., Any])

# Private keys of a `responses=` entry, consumed when the document is built.
_CODES = "x-bazaar-error-codes"
_REF = "#/components/schemas/ErrorResponse"
_ERRORS_ATTR = "__bazaar_errors__"
_AUTH_ATTR = "__bazaar_auth__"


class ErrorBody(BaseModel):
    code: str = Field(description="Stable UPPER_SNAKE error code", pattern=r"^[A-Z][A-Z0-9_]*$")
    message: str = Field(description="Human-readable explanation")
    details: Any = Field(
        default=None,
        description="For `VALIDATION_FAILED`: `[{path, msg}]`, one per refused field; "
        "for `INTERNAL_ERROR`: `{requestId}`",
    )


class ErrorResponse(BaseModel):
    """The error envelope of every non-2xx answer."""

    success: Literal[False]
    error: ErrorBody


def _describe(kind: ErrorKind) -> tuple[int, str, str]:
    return int(kind.status_code), str(kind.code), str(kind.message)


def errors(*kinds: ErrorKind) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the errors it may answer, by class (or by instance for a
    code given at the raise), grouped by status with each code and its message."""
    out: dict[int | str, dict[str, Any]] = {}
    for kind in kinds:
        status, code, message = _describe(kind)
        entry = out.setdefault(status, {"description": "", _CODES: {}})
        _add(entry[_CODES], code, message)
    return out


def _add(codes: dict[str, str], code: str, message: str) -> None:
    known = codes.get(code)
    if known is None:
        codes[code] = message
    elif message not in known.split("; "):
        codes[code] = f"{known}; {message}"


def raises(*kinds: ErrorKind, auth: AuthMode | None = None) -> Callable[[C], C]:
    """Mark a dependency with the errors it answers, documented on every route that uses
    it; `auth` says it authenticates the caller (`optional`: anonymous callers pass)."""

    def mark(func: C) -> C:
        setattr(func, _ERRORS_ATTR, kinds)
        if auth is not None:
            setattr(func, _AUTH_ATTR, auth)
        return func

    return mark


# -- what a route answers by construction -------------------------------------------------


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


class _Malformed(ValidationFailed):
    code = "MALFORMED_JSON"
    message = "The body is not valid JSON"


class _TooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body exceeds the size limit (10 MB by default)"


class _NoRoute(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "No route matches the path (a path parameter with a `/`, for example)"


class _Raced(Conflict):
    message = "A concurrent change got there first (a uniqueness or reference conflict)"


class _Internal(AppError):
    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Something went wrong on our side; `details.requestId` identifies the request"


_INVALID = ValidationFailed("Invalid input: `details` lists each refused field as {path, msg}")


def route_errors(route: APIRoute, path: str) -> tuple[list[ErrorKind], AuthMode | None]:
    """The errors `route` answers by construction and through its dependencies, and
    whether (and how) it authenticates the caller."""
    tree = list(_tree(route.dependant))
    has_body = route.body_field is not None
    has_path = any(d.path_params for d in tree)
    if has_body or has_path or any(d.query_params or d.header_params for d in tree):
        kinds: list[ErrorKind] = [_INVALID]
    else:
        kinds = []
    if has_body:
        kinds += [_Malformed, _TooLarge]
    if has_path:
        kinds.append(_NoRoute)
    if route_session_kind(route) is SessionKind.WRITE:
        kinds.append(_Raced)
    auth: AuthMode | None = None
    for dependant in tree[1:]:
        kinds += getattr(dependant.call, _ERRORS_ATTR, ())
        mode = getattr(dependant.call, _AUTH_ATTR, None)
        if mode == "required" or (mode == "optional" and auth is None):
            auth = mode
    if path.startswith("/api/"):
        kinds.append(RateLimited("Too many requests from this client; see `Retry-After`"))
    kinds.append(_Internal)
    return kinds, auth


# -- building the document ----------------------------------------------------------------


def _code_schema(codes: Iterable[str]) -> dict[str, Any]:
    return {
        "allOf": [{"$ref": _REF}],
        "properties": {"error": {"properties": {"code": {"enum": sorted(codes)}}}},
    }


def _complete_operation(operation: dict[str, Any], route: APIRoute, path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    derived, auth = route_errors(route, path)
    for status, extra in errors(*derived).items():
        phrase = http.client.responses.get(int(status), "Error")
        entry = responses.setdefault(str(status), {"description": phrase})
        codes: dict[str, str] = entry.setdefault(_CODES, {})
        for code, message in extra[_CODES].items():
            _add(codes, code, message)
    for status, entry in responses.items():
        codes = entry.pop(_CODES, None)
        if codes is None:
            continue
        lines = [f"- `{code}`: {message}" for code, message in sorted(codes.items())]
        intro = entry.get("description") or ""
        entry["description"] = "\n".join([intro, "", *lines] if intro else lines)
        entry["content"] = {"application/json": {"schema": _code_schema(codes)}}
        if status == "429":
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds until a retry may succeed",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
    operation["responses"] = dict(sorted(responses.items()))
    if auth == "optional":
        security = operation.setdefault("security", [])
        if {} not in security:
            security.append({})


# Characters no route takes, refused before any endpoint runs (kit/http.py,
# kit/schemas.py): control characters in a path, NUL in a query string or anywhere in a
# body. Stated as `not: {pattern: <one character class>}`: "contains none of these".
PATH_REFUSED = r"[\x00-\x1f\x7f]"
TEXT_REFUSED = r"[\x00]"
_SHAPED = ("format", "enum", "const")


def _refuse_text(schema: Any, pattern: str, refs: set[str]) -> None:
    """Give every free-form string in `schema` the character rule the server enforces
    anyway; collect the components it refers to in `refs`."""
    if isinstance(schema, list):
        for item in schema:
            _refuse_text(item, pattern, refs)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        refs.add(ref.rsplit("/", 1)[-1])
    if schema.get("pattern") in TEXT_PATTERNS:
        _fold_lengths(schema)
    if schema.get("type") == "string" and not any(k in schema for k in _SHAPED):
        refuse = {"pattern": pattern}
        if "not" not in schema:
            schema["not"] = refuse
        elif schema["not"] != refuse:
            schema.setdefault("allOf", []).append({"not": refuse})
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        _refuse_text(schema.get(key), pattern, refs)
    for key in ("items", "additionalProperties"):
        _refuse_text(schema.get(key), pattern, refs)
    for sub in (schema.get("properties") or {}).values():
        _refuse_text(sub, pattern, refs)


def _fold_lengths(schema: dict[str, Any]) -> None:
    """A text type's minimum length counts the trimmed value (kit/fields.py): its pattern
    states it. (`maxLength` counts what was sent, kit/schemas.py, and stays as it is.)"""
    refused, visible = TEXT_PATTERNS[schema["pattern"]]
    low = schema.get("minLength", 0)
    if visible and low > 1:
        schema["pattern"] = text_pattern(refused, False, low)
        schema.setdefault("allOf", []).append({"pattern": VISIBLE})
    else:
        schema["pattern"] = text_pattern(refused, visible, low)


def _state_text_rules(spec: dict[str, Any]) -> None:
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    pending: set[str] = set()
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                where = parameter.get("in")
                pattern = PATH_REFUSED if where == "path" else TEXT_REFUSED
                _refuse_text(parameter.get("schema"), pattern, pending)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _refuse_text(media.get("schema"), TEXT_REFUSED, pending)
    done: set[str] = set()
    while pending:
        name = pending.pop()
        if name in done or name not in schemas:
            continue
        done.add(name)
        _refuse_text(schemas[name], TEXT_REFUSED, pending)


def _models(annotation: Any, found: set[type[BaseModel]]) -> None:
    """Every model class `annotation` mentions, nested models included."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in found:
            return
        found.add(annotation)
        for field in annotation.model_fields.values():
            _models(field.annotation, found)
        return
    for arg in typing.get_args(annotation):
        _models(arg, found)


def _refuses(model: type[BaseModel], name: str, value: Any) -> bool:
    """Whether `model` refuses `value` for its field `name` (other fields aside)."""
    try:
        model.model_validate({name: value})
    except ValidationError as exc:
        return any(error["loc"][:1] == (name,) for error in exc.errors())
    return False


def _blank_is_short(model: type[BaseModel], name: str, schema: dict[str, Any]) -> bool:
    minimum = schema.get("minLength", 0)
    if schema.get("type") != "string" or minimum < 1:
        return False
    pattern = schema.get("pattern")
    if pattern is not None and not re.search(pattern, " " * minimum):
        return False  # its pattern says so already
    return _refuses(model, name, " " * minimum)


def _state_model_rules(spec: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    """What a body model refuses that its JSON schema does not say, asked of the model
    itself rather than guessed: an explicit null for an optional field (a PATCH of a column
    that cannot be empty) loses the `null` FastAPI documents for `X | None = None`, and a
    trimmed field with a minimum length needs a character other than whitespace."""
    found: set[type[BaseModel]] = set()
    for route in routes:
        if route.body_field is not None:
            _models(route.body_field.field_info.annotation, found)
    by_title: dict[str, list[dict[str, Any]]] = {}
    for component in spec.get("components", {}).get("schemas", {}).values():
        by_title.setdefault(component.get("title", ""), []).append(component)
    for model in found:
        for component in by_title.get(model.__name__, []):
            for name, prop in component.get("properties", {}).items():
                for option in [prop, *prop.get("anyOf", [])]:
                    if _blank_is_short(model, name, option):
                        # Trimmed before its length is counted: spaces alone are too short.
                        blank = {"pattern": f"[^{WHITESPACE}]"}
                        if "pattern" in option:
                            option.setdefault("allOf", []).append(blank)
                        else:
                            option.update(blank)
                branches = prop.get("anyOf")
                if not branches or {"type": "null"} not in branches:
                    continue
                if not _refuses(model, name, None):
                    continue
                rest = [b for b in branches if b != {"type": "null"}]
                del prop["anyOf"]
                if prop.get("default", 0) is None:
                    del prop["default"]
                if len(rest) == 1:
                    prop.update({k: v for k, v in rest[0].items() if k not in prop})
                else:
                    prop["anyOf"] = rest


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path = context.path_format or ""
        for method in context.methods or ():
            operation = spec.get("paths", {}).get(path, {}).get(method.lower())
            if operation is not None:
                _complete_operation(operation, route, path)
    _state_text_rules(spec)
    api_routes = [c.original_route for c in iter_route_contexts(app.routes)]
    _state_model_rules(spec, [r for r in api_routes if isinstance(r, APIRoute)])
    schemas: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    envelope = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas["ErrorResponse"] = envelope
    spec["components"]["schemas"] = dict(sorted(schemas.items()))
    return spec


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` builds (once) the completed document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
