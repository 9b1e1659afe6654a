"""Marketplace inputs go through the shared field types (kit/fields.py): dates at the edge
of the calendar, line breaks in names and titles, text made only of invisible characters
are a 400 on the field, never a 500 or a stored value."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.marketplace import MakeShop
from tests.fixtures.users import Account
from tests.marketplace.test_requests_support import (
    OFFERS,
    REQUESTS,
    post_offer,
    post_request,
    request_body,
)

EDGE_DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59"]
# Every line-break class (CR, LF, VT, FF, FS/GS/RS, NEL, LS, PS) and other controls.
BROKEN_LINES = [
    "a\nb title",
    "a\rb title",
    "Lamp\u2028Bcc: x",
    "Lamp\u2029x",
    "Lamp\x85x",
    "x\x1cyz",
]
INVISIBLE = ["\u200b\u200b\u200b", "   ", "\u2060\ufeff\u200d", "\u3000\u3000\u3000"]


def assert_refused(r: httpx.Response, path: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert path in [d["path"] for d in error["details"]], error


@pytest.mark.parametrize("when", EDGE_DATES)
async def test_dates_at_the_edge_of_the_calendar_are_a_400(
    client: httpx.AsyncClient, buyer: Account, seller: Account, when: str
) -> None:
    r = await client.post(REQUESTS, json=request_body(expiresAt=when), headers=buyer.headers)
    assert_refused(r, "expiresAt")
    request = await post_request(client, buyer)
    r = await client.patch(
        f"{REQUESTS}/{request['id']}", json={"expiresAt": when}, headers=buyer.headers
    )
    assert_refused(r, "expiresAt")
    body = {"requestId": request["id"], "price": "5", "network": 8453, "expiresAt": when}
    assert_refused(await client.post(OFFERS, json=body, headers=seller.headers), "expiresAt")
    offer = await post_offer(client, seller, request["id"])
    r = await client.patch(
        f"{OFFERS}/{offer['id']}", json={"expiresAt": when}, headers=seller.headers
    )
    assert_refused(r, "expiresAt")


async def test_a_date_with_an_offset_is_read_as_utc(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    request = await post_request(client, buyer)
    r = await client.patch(
        f"{REQUESTS}/{request['id']}",
        json={"expiresAt": "2099-01-01T01:00:00+01:00"},
        headers=buyer.headers,
    )
    assert r.status_code == 400  # more than 90 days ahead: the business rule, not a crash
    [detail] = r.json()["error"]["details"]
    assert detail["path"] == "expiresAt" and "at most 90 days" in detail["msg"]


@pytest.mark.parametrize("title", BROKEN_LINES + INVISIBLE)
async def test_titles_and_names_are_one_visible_line(
    client: httpx.AsyncClient,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_shop: MakeShop,
    title: str,
) -> None:
    r = await client.post(REQUESTS, json=request_body(title=title), headers=buyer.headers)
    assert_refused(r, "title")
    request = await post_request(client, buyer)
    r = await client.patch(
        f"{REQUESTS}/{request['id']}", json={"title": title}, headers=buyer.headers
    )
    assert_refused(r, "title")

    await make_shop(seller)
    template: dict[str, Any] = {"title": title, "price": "5", "network": 8453}
    r = await client.post("/api/marketplace/templates", json=template, headers=seller.headers)
    assert_refused(r, "title")
    r = await client.patch(
        "/api/marketplace/shop-settings", json={"name": title}, headers=seller.headers
    )
    assert_refused(r, "name")
    r = await client.post(
        "/api/marketplace/shop-settings", json={"name": title}, headers=buyer.headers
    )
    assert_refused(r, "name")
    r = await client.post(
        "/api/marketplace/categories", json={"name": title}, headers=admin.headers
    )
    assert_refused(r, "name")


async def test_multi_line_text_keeps_its_lines_but_no_controls(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request = await post_request(client, buyer, description="Line one\nLine two\r\n\tindented")
    assert request["description"] == "Line one\nLine two\r\n\tindented"
    r = await client.post(
        REQUESTS, json=request_body(description="bell\x07 text"), headers=buyer.headers
    )
    assert_refused(r, "description")
    body = {"requestId": request["id"], "price": "5", "network": 8453, "message": "esc\x1b[31m"}
    assert_refused(await client.post(OFFERS, json=body, headers=seller.headers), "message")


async def test_an_admin_force_needs_a_visible_reason(
    client: httpx.AsyncClient, buyer: Account, admin: Account
) -> None:
    request = await post_request(client, buyer)
    r = await client.post(
        f"{REQUESTS}/{request['id']}/force-transition",
        json={"to": "cancelled", "reason": "\u200b"},
        headers=admin.headers,
    )
    assert_refused(r, "reason")
