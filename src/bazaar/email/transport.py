"""How a composed email leaves the process: SMTP, or a folder of .eml files in development.

`transport_for(settings)` picks one: SMTP when SMTP_HOST is set; otherwise, outside
production, every message is written to `<data dir>/mail/` so a developer can open it
(and a test can parse it). In production without SMTP_HOST email is disabled.

A transport raises `MailRejected` when the server refused the message for good (a 5xx
reply); anything else it raises (connection refused, timeout, a 4xx reply) may pass on a
later try.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from bazaar.config import Settings
from bazaar.kit.db import utcnow
from bazaar.kit.errors import FeatureDisabled
from bazaar.kit.locks import assert_no_write_transaction


class EmailDisabled(FeatureDisabled):
    message = "Email is not configured on this server (SMTP_HOST is unset)"


class MailRejected(Exception):
    """The server refused the message with a permanent (5xx) reply: sending it again
    would be refused again."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str | None
    html: str | None = None


class MailTransport(Protocol):
    """Delivers one composed message, or raises `MailRejected` (permanent) or any other
    error (worth retrying)."""

    async def send(self, message: EmailMessage) -> None: ...


def compose(settings: Settings, mail: OutgoingEmail) -> EmailMessage:
    """A MIME message: text and HTML as alternatives when both are given."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = mail.to
    # The email package refuses header values with line breaks, so a subject cannot
    # smuggle extra headers in.
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    sender_domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "bazaar.local"
    message["Message-ID"] = make_msgid(domain=sender_domain)
    if mail.text is not None:
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
    elif mail.html is not None:
        message.set_content(mail.html, subtype="html")
    else:
        raise ValueError("an email needs a text or an HTML body")
    return message


class SmtpTransport:
    """SMTP via aiosmtplib with the seed's SMTP_* settings (nodemailer semantics)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        # A slow or stalled mail server must never hold the database's write lock.
        assert_no_write_transaction("smtp")
        s = self.settings
        # SMTP_SECURE: TLS from the first byte (port 465). Otherwise STARTTLS is used when
        # the server offers it, and required when SMTP_STARTTLS is true, as nodemailer does.
        start_tls: bool | None = False if s.smtp_secure else (True if s.smtp_starttls else None)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=s.smtp_pass or None,
                use_tls=s.smtp_secure,
                start_tls=start_tls,
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPException as exc:
            refusal = permanent_refusal(exc)
            if refusal is not None:
                raise MailRejected(refusal) from exc
            raise


def permanent_refusal(exc: aiosmtplib.SMTPException) -> str | None:
    """The server's words when `exc` is a permanent refusal (5xx), else None.

    A refused recipient counts only with a 5xx code: a 4xx there is usually greylisting,
    which the next try gets past.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        if refused and all(_permanent(r.code) for r in refused):
            return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
        return None
    if isinstance(exc, aiosmtplib.SMTPResponseException) and _permanent(exc.code):
        return f"{exc.code} {exc.message}"
    return None


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class MailDirTransport:
    """Development: each message becomes `<timestamp>-<id>.eml` in a folder (a local file
    write, so no lock guard)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message.as_bytes())

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.eml"
        path = self.directory / name
        # Write then rename, so a reader never sees half a message.
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)
        return path


def email_enabled(settings: Settings) -> bool:
    return settings.smtp_enabled or not settings.is_production


def transport_for(settings: Settings) -> MailTransport:
    if settings.smtp_enabled:
        return SmtpTransport(settings)
    if settings.is_production:
        raise EmailDisabled()
    return MailDirTransport(settings.mail_dir)
