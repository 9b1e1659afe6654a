"""Transports: SMTP (plain and with AUTH) against aiosmtpd, and the .eml folder."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.email.service import render
from bazaar.email.transport import (
    EmailDisabled,
    MailDirTransport,
    MailRejected,
    OutgoingEmail,
    SmtpTransport,
    compose,
    transport_for,
)
from bazaar.kit.db import Database
from bazaar.kit.locks import SlowWorkUnderLock
from tests.conftest import base_settings
from tests.fixtures.smtp import SmtpServer

# Plain-text AUTH is deliberate here (loopback test server); aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

MAIL = OutgoingEmail(
    to="reader@example.com",
    subject="Grüße from Bazaar",
    text="Plain body with a link: https://example.com/a?b=1&c=2\n",
    html="<p>HTML body</p>",
)


def smtp_settings(tmp_path: Path, server: SmtpServer, **extra: object) -> Settings:
    return base_settings(tmp_path, smtp_host=server.host, smtp_port=server.port, **extra)


async def test_smtp_delivers_text_and_html_alternatives(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, smtp_server, smtp_from="Shop <shop@example.com>")
    transport = transport_for(settings)
    assert isinstance(transport, SmtpTransport)

    await transport.send(compose(settings, MAIL))

    [received] = smtp_server.mailbox.messages
    assert received.recipients == ["reader@example.com"]
    assert received.sender == "shop@example.com"
    assert received.message["Subject"] == "Grüße from Bazaar"
    assert received.message["From"] == "Shop <shop@example.com>"
    assert received.message["Message-ID"].endswith("@example.com>")
    assert received.text == MAIL.text
    assert received.html.strip() == "<p>HTML body</p>"


async def test_smtp_auth_with_the_right_password(
    tmp_path: Path, smtp_auth_server: SmtpServer
) -> None:
    settings = smtp_settings(
        tmp_path, smtp_auth_server, smtp_user="mailer", smtp_pass="s3cret-pass"
    )

    await transport_for(settings).send(compose(settings, MAIL))

    [received] = smtp_auth_server.mailbox.messages
    assert received.login == "mailer"
    assert smtp_auth_server.authenticator is not None
    assert smtp_auth_server.authenticator.attempts == [("mailer", True)]


async def test_smtp_auth_with_a_wrong_password_fails_fast(
    tmp_path: Path, smtp_auth_server: SmtpServer
) -> None:
    # A short timeout: a hanging AUTH exchange would show up as a timeout, not a 535.
    settings = smtp_settings(
        tmp_path, smtp_auth_server, smtp_user="mailer", smtp_pass="wrong", smtp_timeout=5
    )

    with pytest.raises(MailRejected, match="535") as refused:
        await transport_for(settings).send(compose(settings, MAIL))
    # A 5xx reply: refused for good, so the job is dead-lettered rather than retried.
    assert isinstance(refused.value.__cause__, aiosmtplib.SMTPAuthenticationError)

    assert smtp_auth_server.mailbox.messages == []


async def test_server_requiring_auth_refuses_anonymous_mail(
    tmp_path: Path, smtp_auth_server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, smtp_auth_server, smtp_timeout=5)
    with pytest.raises(MailRejected, match="530"):
        await transport_for(settings).send(compose(settings, MAIL))
    assert smtp_auth_server.mailbox.messages == []


async def test_without_smtp_mail_is_written_as_eml_files(tmp_path: Path) -> None:
    settings = base_settings(tmp_path)
    transport = transport_for(settings)
    assert isinstance(transport, MailDirTransport)

    await transport.send(compose(settings, MAIL))
    await transport.send(
        compose(
            settings, render("b@example.com", "test", {"sent_at": "now", "requested_by": "ops"})
        )
    )

    files = sorted(settings.mail_dir.glob("*.eml"))
    assert len(files) == 2
    assert not list(settings.mail_dir.glob("*.part"))
    parsed = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert parsed["To"] == "reader@example.com"
    assert parsed["Subject"] == "Grüße from Bazaar"
    plain = parsed.get_body(("plain",))
    assert plain is not None and "https://example.com/a?b=1&c=2" in plain.get_content()


async def test_smtp_refuses_to_start_inside_a_write_transaction(
    tmp_path: Path, db: Database, smtp_server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, smtp_server)
    async with db.session() as session:
        await session.execute(sa.select(1))  # the write transaction is open from here
        with pytest.raises(SlowWorkUnderLock, match="smtp"):
            await transport_for(settings).send(compose(settings, MAIL))
        await session.rollback()
    assert smtp_server.mailbox.messages == []


async def test_eml_folder_needs_no_guard(tmp_path: Path, db: Database) -> None:
    """A local file write is quick: development mail may be written inside a transaction."""
    settings = base_settings(tmp_path)
    async with db.session() as session:
        await session.execute(sa.select(1))
        await transport_for(settings).send(compose(settings, MAIL))
        await session.rollback()
    assert len(list(settings.mail_dir.glob("*.eml"))) == 1


def test_production_without_smtp_has_email_disabled(tmp_path: Path) -> None:
    production = base_settings(tmp_path, node_env="production", jwt_secret="x" * 40, smtp_host=None)
    with pytest.raises(EmailDisabled):
        transport_for(production)


def test_templates_render_both_parts_and_refuse_missing_values() -> None:
    mail = render(
        "a@example.com",
        "password_reset",
        {
            "token": "tok",
            "link": "https://x/reset?token=tok&x=1",
            "expires_minutes": 60,
        },
    )
    assert mail.subject == "Reset your Bazaar password"
    assert mail.text is not None and "https://x/reset?token=tok&x=1" in mail.text
    # Values are escaped in the HTML part, verbatim in the text part.
    assert mail.html is not None and 'href="https://x/reset?token=tok&amp;x=1"' in mail.html
    with pytest.raises(Exception, match="undefined"):
        render("a@example.com", "password_reset", {"token": "tok"})
    with pytest.raises(ValueError):
        render("a@example.com", "no_such_template", {})
