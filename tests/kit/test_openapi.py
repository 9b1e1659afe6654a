"""The OpenAPI document lists the errors each route answers, in the envelope, and a 405
names every method its path takes."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bazaar.kit.errors import NotFound, RoleRequired
from bazaar.kit.openapi import errors
from tests.fixtures.routes import api_routes
from tests.fixtures.users import Account


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _codes(operation: dict[str, Any], status: str) -> list[str]:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    assert schema["allOf"] == [{"$ref": "#/components/schemas/ErrorResponse"}]
    return schema["properties"]["error"]["properties"]["code"]["enum"]  # type: ignore[no-any-return]


def test_errors_groups_classes_by_status() -> None:
    class GadgetNotFound(NotFound):
        code = "GADGET_NOT_FOUND"
        message = "Gadget not found"

    declared = errors(GadgetNotFound, RoleRequired, NotFound("Shelf not found", code="NO_SHELF"))
    assert set(declared) == {403, 404}
    assert declared[404]["x-bazaar-error-codes"] == {
        "GADGET_NOT_FOUND": "Gadget not found",
        "NO_SHELF": "Shelf not found",
    }


def test_no_operation_documents_422_and_every_one_documents_500(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, operation in _operations(spec):
        assert "422" not in operation["responses"], (method, path)
        assert _codes(operation, "500") == ["INTERNAL_ERROR"], (method, path)
        for status, response in operation["responses"].items():
            # Errors come in the envelope; a 304 (an upload's ETag matched) has no body.
            if status.startswith(("4", "5")):
                assert "ErrorResponse" in str(response["content"]), (method, path, status)
            elif not status.startswith("2"):
                assert status == "304" and "content" not in response, (method, path, status)


def test_responses_derived_from_the_route(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    accept = paths["/api/marketplace/offers/{ref}/accept"]["post"]
    assert {"MALFORMED_JSON", "VALIDATION_FAILED"} <= set(_codes(accept, "400"))
    assert {"UNAUTHORIZED", "INVALID_TOKEN"} <= set(_codes(accept, "401"))
    assert "IDEMPOTENCY_KEY_REUSED" in _codes(accept, "409")
    assert _codes(accept, "413") == ["PAYLOAD_TOO_LARGE"]
    assert _codes(accept, "429") == ["RATE_LIMITED"]
    assert "Retry-After" in accept["responses"]["429"]["headers"]
    assert accept["security"] == [{"HTTPBearer": []}]

    # Optional sign-in: anonymous callers pass, a bad token is 401.
    listing = paths["/api/marketplace/requests"]["get"]
    assert {} in listing["security"]
    assert "INVALID_TOKEN" in _codes(listing, "401")

    # A role alias: 403 ROLE_REQUIRED.
    create_category = paths["/api/marketplace/categories"]["post"]
    assert "ROLE_REQUIRED" in _codes(create_category, "403")

    # No input, no 400; outside /api, no rate limit.
    health = paths["/health"]["get"]
    assert "400" not in health["responses"]
    assert "429" not in health["responses"]


def test_text_rules_enforced_before_the_endpoint_are_in_the_schemas(
    spec: dict[str, Any],
) -> None:
    offer = spec["paths"]["/api/marketplace/offers/{ref}"]["get"]
    (ref,) = [p for p in offer["parameters"] if p["in"] == "path"]
    assert ref["schema"]["not"] == {"pattern": r"[\x00-\x1f\x7f]"}
    schemas = spec["components"]["schemas"]
    refresh = schemas["RefreshInput"]["properties"]["refreshToken"]
    assert refresh["not"] == {"pattern": r"[\x00]"}
    # Trimmed before its length is counted: whitespace alone is too short.
    assert not re.search(refresh["pattern"], " \t ")
    assert re.search(refresh["pattern"], " token ")


def test_the_schema_says_which_optional_fields_refuse_null(spec: dict[str, Any]) -> None:
    profile = spec["components"]["schemas"]["ProfileUpdate"]["properties"]
    assert profile["name"]["type"] == "string"  # `name: null` is refused
    assert {"type": "null"} in profile["bio"]["anyOf"]  # `bio: null` clears it


def test_money_is_a_decimal_string_or_an_integer(spec: dict[str, Any]) -> None:
    price = spec["components"]["schemas"]["OfferCreate"]["properties"]["price"]
    text, integer = price["anyOf"]
    assert integer == {"type": "integer", "minimum": 1, "exclusiveMaximum": 10**20}
    for good in ("12.50", " 1 ", "0.000001", "007"):
        assert re.search(text["pattern"], good), good
    for bad in ("0", "0.00", "-1", "1e3", "1_000", "１２", "1.", ".5", "1.1234567890123456789"):
        assert not re.search(text["pattern"], bad), bad


def test_password_lengths_are_in_the_schema(spec: dict[str, Any]) -> None:
    password = spec["components"]["schemas"]["RegisterInput"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 128)


def test_every_api_route_is_documented_with_its_errors(app: FastAPI, spec: dict[str, Any]) -> None:
    for method, path, route in api_routes(app):
        if route.include_in_schema:
            assert "500" in spec["paths"][path][method.lower()]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/marketplace/offers/any-offer", "GET, PATCH"),
        ("DELETE", "/api/marketplace/offers/mine", "GET"),
        ("POST", "/api/user/profile", "GET, PATCH, PUT"),
        ("OPTIONS", "/api/address/any-address", "DELETE, GET, PATCH, PUT"),
        ("POST", "/health", "GET"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_body_that_is_not_utf8_is_malformed_json(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    answer = await client.post(
        "/api/address",
        content=b'{"name": "\xff"}',
        headers={**buyer.headers, "content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "MALFORMED_JSON"
