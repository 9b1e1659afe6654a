"""/api/email: admin test and send endpoints, delivered by the worker over SMTP."""

from __future__ import annotations

from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.security import create_access_token
from tests.auth.helpers import email_jobs, error
from tests.conftest import base_settings, make_app
from tests.fixtures.smtp import MailStack
from tests.fixtures.users import MakeUser


async def test_admin_test_email_is_queued_and_delivered(
    mail_stack: MailStack, make_user: MakeUser
) -> None:
    admin = await make_user(["admin"], email="ops-admin@example.com")

    response = await mail_stack.client.post(
        "/api/email/test", json={"to": "inbox@example.com"}, headers=admin.headers
    )

    assert response.status_code == 202
    assert response.json()["data"]["queued"] is True
    assert mail_stack.server.mailbox.messages == []  # sent by the worker, not the request
    [mail] = await mail_stack.deliver()
    assert mail.recipients == ["inbox@example.com"]
    assert mail.message["Subject"] == "Bazaar test email"
    assert "ops-admin@example.com" in mail.text
    assert "outgoing email works" in mail.html


async def test_admin_send_delivers_the_given_message(
    mail_stack: MailStack, make_user: MakeUser
) -> None:
    admin = await make_user(["admin"])

    response = await mail_stack.client.post(
        "/api/email/send",
        json={
            "to": "someone@example.com",
            "subject": "Maintenance tonight",
            "html": "<b>22:00</b>",
        },
        headers=admin.headers,
    )

    assert response.status_code == 202
    [mail] = await mail_stack.deliver()
    assert mail.message["Subject"] == "Maintenance tonight"
    assert mail.html.strip() == "<b>22:00</b>"


async def test_only_admins_may_send(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    buyer = await make_user(["buyer"])
    for path, body in (
        ("/api/email/test", {"to": "x@example.com"}),
        ("/api/email/send", {"to": "x@example.com", "subject": "s", "text": "t"}),
    ):
        assert (await client.post(path, json=body)).status_code == 401
        forbidden = await client.post(path, json=body, headers=buyer.headers)
        assert forbidden.status_code == 403
    assert await email_jobs(db) == []


async def test_send_input_is_validated(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(["admin"])
    cases = [
        {"to": "x@example.com", "subject": "no body"},
        {"to": "x@example.com", "subject": "Hi\r\nBcc: victim@example.com", "text": "t"},
        {"to": "not an address", "subject": "s", "text": "t"},
        {"to": "x@example.com", "subject": "", "text": "t"},
    ]
    for body in cases:
        response = await client.post("/api/email/send", json=body, headers=admin.headers)
        assert response.status_code == 400, body
        assert error(response)["code"] == "VALIDATION_FAILED"


async def test_production_without_smtp_answers_feature_disabled(
    settings: Settings, db: Database, tmp_path: Path, make_user: MakeUser
) -> None:
    production = base_settings(
        tmp_path,
        node_env="production",
        jwt_secret="a-production-secret-of-at-least-32-characters",
        metrics_token="a-metrics-token",
        pg_url=settings.pg_url,
        redis_uri=settings.redis_uri,
    )
    admin = await make_user(["admin"])
    token, _ = create_access_token(production, admin.id, admin.roles, 0)
    app = make_app(production, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/email/test",
                json={"to": "x@example.com"},
                headers={"Authorization": f"Bearer {token}"},
            )

    assert response.status_code == 503
    assert error(response)["code"] == "FEATURE_DISABLED"
