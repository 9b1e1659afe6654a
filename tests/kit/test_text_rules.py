"""Text and dates a request may carry: one rule for every input, on both databases.

NUL bytes answered 500 on PostgreSQL (asyncpg cannot store them) wherever a field lacked
the marketplace's own check; single-line fields let Unicode line breaks through (a mail
subject with U+2028 was accepted, then failed on every retry); far dates overflowed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from bazaar.kit.fields import LINE_BREAKS, Line, VisibleLine, VisibleText, When
from tests.fixtures.users import MakeUser

NUL = "a\u0000b"
ANONYMOUS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/auth/login", {"email": "a\u0000b@x.example", "password": "whatever1"}),
    ("POST", "/api/auth/password/forgot", {"email": "a\u0000b@x.example"}),
    (
        "POST",
        "/api/auth/register",
        {"email": "n@x.example", "password": "long enough", "name": NUL},
    ),
    (
        "POST",
        "/api/auth/register",
        {"email": "r@x.example", "password": "long enough", "name": "R", "referralCode": NUL},
    ),
    ("GET", "/api/marketplace/requests?categoryId=%00", None),
    ("GET", "/api/marketplace/requests?q=radio%00", None),
    ("GET", "/api/marketplace/shop-settings/%00", None),
    ("GET", "/api/marketplace/templates/shop/%00", None),
    ("GET", "/api/marketplace/categories/%00", None),
]
ADDRESS = {"fullName": "A B", "line1": "1 Main", "city": "Berlin", "country": "DE"}
SIGNED_IN: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/address", {**ADDRESS, "city": NUL}),
    ("POST", "/api/address", {**ADDRESS, "line2": NUL}),
    ("PATCH", "/api/user/profile", {"name": NUL}),
    ("PATCH", "/api/user/profile", {"bio": NUL}),
    ("PUT", "/api/user/preferences", {"notifications": {NUL: {"email": True}}}),
    ("POST", "/api/marketplace/shop-settings", {"name": NUL}),
    ("POST", "/api/marketplace/shop-settings", {"name": "Shop", "description": NUL}),
    ("GET", "/api/admin/users?q=%00", None),
    ("POST", "/api/marketplace/categories", {"name": NUL}),
    ("POST", "/api/email/send", {"to": "x@example.com", "subject": NUL, "text": "hi"}),
]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize(("method", "path", "body"), ANONYMOUS)
async def test_nul_is_refused_without_signing_in(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    _refused(await client.request(method, path, json=body))


@pytest.mark.parametrize(("method", "path", "body"), SIGNED_IN)
async def test_nul_is_refused_when_signed_in(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    admin = await make_user(roles=["admin", "buyer", "seller"])
    _refused(await client.request(method, path, json=body, headers=admin.headers))


@pytest.mark.parametrize(
    "name",
    ["\u200b\u200b", "   ", "\u2060\ufeff", "Ann\nSmith", "Ann\r\nBcc: x@evil.example", "A\u2028B"],
)
async def test_names_must_be_one_visible_line(
    client: httpx.AsyncClient, make_user: MakeUser, name: str
) -> None:
    user = await make_user(roles=["buyer"])
    _refused(await client.patch("/api/user/profile", json={"name": name}, headers=user.headers))
    registered = await client.post(
        "/api/auth/register", json={"email": "v@x.example", "password": "long enough", "name": name}
    )
    _refused(registered)


@pytest.mark.parametrize("breaker", sorted(LINE_BREAKS))
async def test_a_mail_subject_refuses_every_line_break_class(
    client: httpx.AsyncClient, make_user: MakeUser, breaker: str
) -> None:
    """`Invoice\u2028Bcc: x@evil.example` was accepted (202), then dead-lettered."""
    admin = await make_user(roles=["admin"])
    body = {"to": "x@example.com", "subject": f"Invoice{breaker}Bcc: x@evil.example", "text": "t"}
    _refused(await client.post("/api/email/send", json=body, headers=admin.headers))


def test_every_line_break_python_knows_is_refused_in_a_line() -> None:
    line = TypeAdapter(Line)
    for code in range(0x110000):
        char = chr(code)
        if len(f"a{char}b".splitlines()) > 1:
            assert char in LINE_BREAKS, hex(code)
            with pytest.raises(ValidationError):
                line.validate_python(f"a{char}b")


def test_visible_types_need_something_to_show() -> None:
    for kind in (VisibleLine, VisibleText):
        adapter = TypeAdapter(kind)
        for empty in ("\u200b", " \t", "\u00a0\u3000", "\u200d\u2060"):
            with pytest.raises(ValidationError):
                adapter.validate_python(empty)
        assert adapter.validate_python("Zoë ✓") == "Zoë ✓"
    assert TypeAdapter(VisibleText).validate_python("two\nlines") == "two\nlines"


@pytest.mark.parametrize(
    "raw", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"]
)
def test_dates_at_the_edge_of_the_calendar_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(When).validate_python(raw)


def test_dates_are_read_as_utc() -> None:
    when = TypeAdapter(When)
    assert when.validate_python("2030-01-01T01:00:00+01:00") == datetime(2030, 1, 1, tzinfo=UTC)
    assert when.validate_python("2030-01-01T00:00:00") == datetime(2030, 1, 1, tzinfo=UTC)
