"""Authorization matrix: every route that names an object in its path, called by someone
other than the object's owner.

Routes are discovered from the app. For each one user A owns an object (made through the
API, as a client would), then an ordinary signed-in user B (buyer and seller, not an
admin) and an anonymous caller send A's id: the answer must be the contract's refusal
(404 for another user's object, 403 ROLE_REQUIRED for admin routes, 401 without sign-in)
and the object must be unchanged when re-read from the database.

A route with a path parameter that is in neither CASES nor PUBLIC fails
`test_every_route_with_a_path_parameter_is_listed`: a new route has to be scoped (and
added to CASES) or declared public here, with the reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from bazaar.kit.db import Database
from bazaar.models import (
    Address,
    Category,
    Conversation,
    Payment,
    PurchaseRequest,
    RequestTemplate,
    SellerOffer,
    Shop,
    StoredFile,
    User,
)
from bazaar.models.notifications import Notification
from tests.fixtures.files import PDF
from tests.fixtures.marketplace import MakeCategory, MakeShop
from tests.fixtures.routes import api_routes
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import accept, post_offer, post_request
from tests.notifications.support import make_notification

TEMPLATES = "/api/marketplace/templates"
PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Target:
    """A's object: the value for the path parameter, and the row to compare."""

    ref: str
    model: type[Any] | None = None
    id: uuid.UUID | None = None


class World:
    """A (the owner), B (the other signed-in user), C (A's counterpart in a deal) and the
    factories that make A's objects."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        make_shop: MakeShop,
        make_category: MakeCategory,
    ) -> None:
        self.client = client
        self.make_user = make_user
        self.make_shop = make_shop
        self.make_category = make_category
        self.a: Account
        self.b: Account
        self.c: Account

    async def setup(self) -> None:
        both = ["buyer", "seller"]
        self.a = await self.make_user(both, name="Alice Owner")
        self.b = await self.make_user(both, name="Bob Other")
        self.c = await self.make_user(both, name="Carol Counterpart")

    async def draft_request(self) -> Target:
        data = await post_request(self.client, self.a, publish=False)
        return Target(data["id"], PurchaseRequest, uuid.UUID(data["id"]))

    async def open_request(self) -> Target:
        data = await post_request(self.client, self.a)
        return Target(data["id"], PurchaseRequest, uuid.UUID(data["id"]))

    async def accepted_request(self) -> Target:
        request = await post_request(self.client, self.a)
        offer = await post_offer(self.client, self.c, request["id"])
        answer = await accept(self.client, self.a, offer["id"])
        assert answer.status_code == 200, answer.text
        return Target(request["id"], PurchaseRequest, uuid.UUID(request["id"]))

    async def payment(self) -> Target:
        """A's payment, as the buyer of a deal with C (pending)."""
        request = await post_request(self.client, self.a)
        offer = await post_offer(self.client, self.c, request["id"])
        answer = await accept(self.client, self.a, offer["id"])
        assert answer.status_code == 200, answer.text
        payment_id = answer.json()["data"]["payment"]["id"]
        return Target(payment_id, Payment, uuid.UUID(payment_id))

    async def offer(self) -> Target:
        """A's pending offer, as a seller, on C's open request."""
        request = await post_request(self.client, self.c)
        offer = await post_offer(self.client, self.a, request["id"])
        return Target(offer["id"], SellerOffer, uuid.UUID(offer["id"]))

    async def _template(self, active: bool) -> Target:
        await self.make_shop(self.a)
        body = {
            "title": "Hand-bound notebook",
            "price": "12.50",
            "network": 8453,
            "isActive": active,
        }
        answer = await self.client.post(TEMPLATES, json=body, headers=self.a.headers)
        assert answer.status_code == 201, answer.text
        data = answer.json()["data"]
        return Target(data["id"], RequestTemplate, uuid.UUID(data["id"]))

    async def active_template(self) -> Target:
        return await self._template(active=True)

    async def inactive_template(self) -> Target:
        return await self._template(active=False)

    async def address(self) -> Target:
        body = {"fullName": "Alice Owner", "line1": "1 Main St", "city": "Porto", "country": "PT"}
        answer = await self.client.post("/api/address", json=body, headers=self.a.headers)
        assert answer.status_code == 201, answer.text
        data = answer.json()["data"]
        return Target(data["id"], Address, uuid.UUID(data["id"]))

    async def user(self) -> Target:
        return Target(str(self.a.id), User, self.a.id)

    async def category(self) -> Target:
        category = await self.make_category("Stationery")
        return Target(str(category.id), Category, category.id)

    async def shop(self) -> Target:
        shop = await self.make_shop(self.a)
        return Target(shop.slug, Shop, shop.id)

    async def notification(self) -> Target:
        """A's in-app notification (queued by notify, written by the deliver job)."""
        notification_id = await make_notification(self.client, self.a.id)
        return Target(str(notification_id), Notification, notification_id)

    async def private_file(self) -> Target:
        """A's attachment upload (not attached to anything: A's alone)."""
        answer = await self.client.post(
            "/api/files",
            params={"purpose": "attachment"},
            files={"file": ("terms.pdf", PDF, "application/pdf")},
            headers=self.a.headers,
        )
        assert answer.status_code == 201, answer.text
        data = answer.json()["data"]
        return Target(data["id"], StoredFile, uuid.UUID(data["id"]))

    async def docs_asset(self) -> Target:
        return Target("docs-init.js")

    async def offered_request(self) -> Target:
        """C's open request with A's offer (which opens their conversation)."""
        request = await post_request(self.client, self.c)
        await post_offer(self.client, self.a, request["id"])
        return Target(request["id"], PurchaseRequest, uuid.UUID(request["id"]))

    async def conversation(self) -> Target:
        """A's conversation with C about A's request."""
        request = await post_request(self.client, self.a)
        await post_offer(self.client, self.c, request["id"])
        params = {"sellerId": str(self.c.id)}
        answer = await self.client.get(
            f"/api/chat/requests/{request['id']}", params=params, headers=self.a.headers
        )
        assert answer.status_code == 200, answer.text
        conversation_id = answer.json()["data"]["id"]
        return Target(conversation_id, Conversation, uuid.UUID(conversation_id))


Make = Callable[[World], Awaitable[Target]]


@dataclass(frozen=True)
class Case:
    """How a route must refuse B (`status`, `code`) and an anonymous caller (`anonymous`)
    for A's object made by `make`."""

    make: Make
    status: int
    code: str
    anonymous: int
    body: dict[str, Any] | None = None


def scoped(make: Make, code: str, anonymous: int = 401, **body: Any) -> Case:
    """Another user's object: 404, as if it did not exist."""
    return Case(make, 404, code, anonymous, body or None)


def admin_only(make: Make, **body: Any) -> Case:
    return Case(make, 403, "ROLE_REQUIRED", 401, body or None)


REQ = "/api/marketplace/requests/{ref}"
OFF = "/api/marketplace/offers/{ref}"
TPL = "/api/marketplace/templates/{template_id}"
ADDR = "/api/address/{address_id}"
ADM = "/api/admin/users/{ref}"
CAT = "/api/marketplace/categories/{ref}"
PAY = "/api/payment/{payment_id}"
NEW_ADDRESS = {"city": "Elsewhere"}
NOTE = "/api/notification/{notification_id}"
CHAT = "/api/chat/conversations/{conversation_id}"
CHAT_REQ = "/api/chat/requests/{request_id}"

CASES: dict[tuple[str, str], Case] = {
    # Purchase requests: a draft is its buyer's alone.
    ("GET", REQ): scoped(World.draft_request, "REQUEST_NOT_FOUND", anonymous=404),
    ("PATCH", REQ): scoped(World.draft_request, "REQUEST_NOT_FOUND", title="Taken over"),
    ("POST", REQ + "/publish"): scoped(World.draft_request, "REQUEST_NOT_FOUND"),
    ("POST", REQ + "/cancel"): scoped(World.draft_request, "REQUEST_NOT_FOUND", reason="mine"),
    # Past `open`: the buyer, sellers who offered (C) and admins only.
    ("POST", REQ + "/deliver"): scoped(World.accepted_request, "REQUEST_NOT_FOUND", note="sent"),
    ("POST", REQ + "/complete"): scoped(World.accepted_request, "REQUEST_NOT_FOUND"),
    ("POST", REQ + "/force-transition"): admin_only(
        World.open_request, to="cancelled", reason="closing it"
    ),
    # Offers: the seller (A), the request's buyer (C) and admins.
    ("GET", OFF): scoped(World.offer, "OFFER_NOT_FOUND"),
    ("PATCH", OFF): scoped(World.offer, "OFFER_NOT_FOUND", price="1"),
    ("POST", OFF + "/withdraw"): scoped(World.offer, "OFFER_NOT_FOUND"),
    ("POST", OFF + "/reject"): scoped(World.offer, "OFFER_NOT_FOUND", reason="no"),
    ("POST", OFF + "/accept"): scoped(World.offer, "OFFER_NOT_FOUND", version=1),
    ("POST", OFF + "/confirm"): scoped(World.offer, "OFFER_NOT_FOUND", termsVersion=1),
    # Templates: an inactive one is its owner's; any one is changed by its owner only.
    ("GET", TPL): scoped(World.inactive_template, "TEMPLATE_NOT_FOUND", anonymous=404),
    ("PATCH", TPL): scoped(World.active_template, "TEMPLATE_NOT_FOUND", title="Taken over"),
    ("DELETE", TPL): scoped(World.active_template, "TEMPLATE_NOT_FOUND"),
    ("POST", TPL + "/instantiate"): scoped(
        World.inactive_template, "TEMPLATE_NOT_FOUND", isDigital=True
    ),
    # A deal's reviews: its two parties only, though anyone may see an open request.
    ("GET", "/api/marketplace/reviews/request/{request_id}"): scoped(
        World.open_request, "REQUEST_NOT_FOUND"
    ),
    # Addresses: the owner only.
    ("GET", ADDR): scoped(World.address, "NOT_FOUND"),
    ("PUT", ADDR): scoped(World.address, "NOT_FOUND", **NEW_ADDRESS),
    ("PATCH", ADDR): scoped(World.address, "NOT_FOUND", **NEW_ADDRESS),
    ("DELETE", ADDR): scoped(World.address, "NOT_FOUND"),
    ("POST", ADDR + "/default"): scoped(World.address, "NOT_FOUND"),
    # Payments: their buyer and seller (and admins) only.
    ("GET", PAY): scoped(World.payment, "PAYMENT_NOT_FOUND"),
    ("POST", PAY + "/release"): scoped(World.payment, "PAYMENT_NOT_FOUND"),
    ("POST", PAY + "/refund"): scoped(World.payment, "PAYMENT_NOT_FOUND", reason="mine"),
    # Notifications: the owner only.
    ("GET", NOTE): scoped(World.notification, "NOT_FOUND"),
    ("POST", NOTE + "/read"): scoped(World.notification, "NOT_FOUND"),
    ("DELETE", NOTE): scoped(World.notification, "NOT_FOUND"),
    # Files: the owner's; attached ones also whoever may read the object.
    ("GET", "/api/files/{file_id}"): scoped(World.private_file, "FILE_NOT_FOUND", anonymous=404),
    ("DELETE", "/api/files/{file_id}"): scoped(World.private_file, "FILE_NOT_FOUND"),
    ("GET", "/uploads/{file_id}"): scoped(World.private_file, "FILE_NOT_FOUND", anonymous=404),
    # Admin routes: the role is the scope.
    ("POST", "/api/admin/notifications/deliveries/{delivery_id}/rerun"): admin_only(
        World.notification
    ),
    # The guard's review (guard or admin role): A's payment.
    ("POST", "/api/admin/payments/{payment_id}/approve"): admin_only(World.payment, note="ok"),
    ("POST", "/api/admin/payments/{payment_id}/reject"): admin_only(World.payment, reason="no"),
    # Payouts exist only once money is released or refunded; the role is checked before any
    # lookup, so A's payment id stands in (and must stay unchanged).
    ("GET", "/api/admin/payouts/{payout_id}"): admin_only(World.payment),
    ("POST", "/api/admin/payouts/{payout_id}/sent"): admin_only(
        World.payment, txHash="0x" + "ab" * 32
    ),
    ("GET", ADM): admin_only(World.user),
    ("PUT", ADM + "/roles"): admin_only(World.user, roles=["buyer"]),
    ("POST", ADM + "/ban"): admin_only(World.user, reason="spam"),
    ("POST", ADM + "/unban"): admin_only(World.user),
    ("PATCH", CAT): admin_only(World.category, name="Renamed"),
    ("PUT", CAT): admin_only(World.category, name="Renamed"),
    ("DELETE", CAT): admin_only(World.category),
    # Chat: the conversation's participants only (A and C); about a request, its buyer (C)
    # and the sellers who offered on it (A), each in their own conversation.
    ("GET", CHAT): scoped(World.conversation, "CONVERSATION_NOT_FOUND"),
    ("GET", CHAT + "/messages"): scoped(World.conversation, "CONVERSATION_NOT_FOUND"),
    ("POST", CHAT + "/messages"): scoped(World.conversation, "CONVERSATION_NOT_FOUND", text="hi"),
    ("POST", CHAT + "/read"): scoped(World.conversation, "CONVERSATION_NOT_FOUND"),
    ("GET", CHAT_REQ): scoped(World.offered_request, "CHAT_PARTNER_NOT_FOUND"),
    ("POST", CHAT_REQ): scoped(World.offered_request, "CHAT_PARTNER_NOT_FOUND"),
    ("POST", CHAT_REQ + "/messages"): scoped(
        World.offered_request, "CHAT_PARTNER_NOT_FOUND", text="hi"
    ),
}

# Public by contract: anyone, signed in or not, reads these (checked below: 200 for B and
# for an anonymous caller).
PUBLIC: dict[tuple[str, str], tuple[str, Make]] = {
    ("GET", CAT): ("public catalogue: the category tree", World.category),
    ("GET", "/api/marketplace/shop-settings/{ref}"): (
        "public shop page (ShopPublic: no payout wallets or auto-accept rules)",
        World.shop,
    ),
    ("GET", TPL): (
        "public catalogue for an active template (an inactive one is scoped: see CASES)",
        World.active_template,
    ),
    ("GET", "/api/marketplace/templates/shop/{shop_ref}"): (
        "public catalogue: a shop's active templates only",
        World.shop,
    ),
    ("GET", "/api/user/{ref}/public"): ("public seller profile", World.user),
    ("GET", "/api/users/{ref}/public"): ("public seller profile (legacy path)", World.user),
    ("GET", "/docs/assets/{name}"): ("static Swagger UI files, no user data", World.docs_asset),
}


def with_path_parameters(app: FastAPI) -> set[tuple[str, str]]:
    return {(method, path) for method, path, _ in api_routes(app) if PATH_PARAM.search(path)}


def url_for(path: str, ref: str) -> str:
    assert len(PATH_PARAM.findall(path)) == 1, path
    return PATH_PARAM.sub(ref, path)


async def snapshot(db: Database, target: Target) -> dict[str, Any] | None:
    """Every column of the target row as stored now (None once deleted)."""
    assert target.model is not None and target.id is not None
    async with db.session(False) as session:
        row = await session.get(target.model, target.id, populate_existing=True)
        if row is None:
            return None
        columns = sa.inspect(target.model).mapper.column_attrs
        return {column.key: getattr(row, column.key) for column in columns}


@pytest.fixture
async def world(
    client: httpx.AsyncClient, make_user: MakeUser, make_shop: MakeShop, make_category: MakeCategory
) -> World:
    w = World(client, make_user, make_shop, make_category)
    await w.setup()
    return w


def unlisted(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(with_path_parameters(app) - CASES.keys() - PUBLIC.keys())


async def test_every_route_with_a_path_parameter_is_listed(app: FastAPI) -> None:
    missing = unlisted(app)
    assert not missing, f"scope these routes and add them to CASES, or to PUBLIC: {missing}"
    stale = sorted((CASES.keys() | PUBLIC.keys()) - with_path_parameters(app))
    assert not stale, f"no longer routes of the app: {stale}"


async def test_a_new_route_with_a_path_parameter_is_reported(fresh_app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/api/marketplace/requests/{ref}/secrets")
    async def secrets(ref: str) -> dict[str, str]:
        return {"ref": ref}

    fresh_app.include_router(router)
    assert unlisted(fresh_app) == [("GET", "/api/marketplace/requests/{ref}/secrets")]


@pytest.mark.parametrize(
    ("method", "path"), sorted(CASES), ids=[" ".join(k) for k in sorted(CASES)]
)
async def test_another_users_object_is_refused_and_unchanged(
    client: httpx.AsyncClient, db: Database, world: World, method: str, path: str
) -> None:
    case = CASES[(method, path)]
    target = await case.make(world)
    before = await snapshot(db, target)
    assert before is not None
    url = url_for(path, target.ref)

    as_b = await client.request(method, url, json=case.body, headers=world.b.headers)
    assert as_b.status_code == case.status, as_b.text
    assert as_b.json()["error"]["code"] == case.code
    anonymous = await client.request(method, url, json=case.body)
    assert anonymous.status_code == case.anonymous, anonymous.text

    assert await snapshot(db, target) == before
    # An id nobody owns gets the very same answers: A's object is not revealed.
    nobodys = url_for(path, str(uuid.uuid4()))
    missing_as_b = await client.request(method, nobodys, json=case.body, headers=world.b.headers)
    assert (missing_as_b.status_code, missing_as_b.json()["error"]["code"]) == (
        case.status,
        case.code,
    )
    assert (await client.request(method, nobodys, json=case.body)).status_code == case.anonymous
    if method == "GET" and case.status == 404:
        # The owner does reach it: the 404 was about B, not a broken fixture.
        assert (await client.get(url, headers=world.a.headers)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), sorted(PUBLIC), ids=[" ".join(k) for k in sorted(PUBLIC)]
)
async def test_public_routes_answer_anyone(
    client: httpx.AsyncClient, world: World, method: str, path: str
) -> None:
    _reason, make = PUBLIC[(method, path)]
    target = await make(world)
    url = url_for(path, target.ref)
    assert (await client.request(method, url, headers=world.b.headers)).status_code == 200
    assert (await client.request(method, url)).status_code == 200
