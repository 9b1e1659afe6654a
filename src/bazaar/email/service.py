"""Email for every domain: queue a templated message; the worker renders and sends it.

Callers use `queue_email` inside their transaction, so a message exists only if the
change that caused it commits, and SMTP latency or outages never fail a request. The
worker's `email.send` job calls `deliver` with no transaction open.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.email.transport import OutgoingEmail, compose, email_enabled, transport_for
from bazaar.kit.jobs import enqueue
from bazaar.models import Job

log = structlog.get_logger("bazaar.email")

EMAIL_JOB = "email.send"
APP_NAME = "Bazaar"
TEMPLATE_DIR = Path(__file__).parent / "templates"


class UnsendableEmail(Exception):
    """A queued email cannot be built (unknown template, missing value, bad header):
    trying again would fail the same way."""


# One subject per template; each template has a .txt and an .html body.
SUBJECTS = {
    "password_reset": "Reset your Bazaar password",
    "email_verification": "Confirm your email address",
    "test": "Bazaar test email",
}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # HTML escapes every value (names are user input); the text part must not, or
        # links would arrive with `&amp;` in them.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(to: str, template: str, context: dict[str, Any]) -> OutgoingEmail:
    """The message of `template` for `context` (every variable must be provided)."""
    if template not in SUBJECTS:
        raise ValueError(f"unknown email template {template!r}")
    values = {"app_name": APP_NAME, "subject": SUBJECTS[template], **context}
    env = _environment()
    return OutgoingEmail(
        to=to,
        subject=SUBJECTS[template],
        text=env.get_template(f"{template}.txt").render(values),
        html=env.get_template(f"{template}.html").render(values),
    )


async def queue_email(
    session: AsyncSession, to: str, template: str, context: dict[str, Any]
) -> Job:
    """Queue a templated email (`password_reset`, `email_verification`, `test`)."""
    if template not in SUBJECTS:
        raise ValueError(f"unknown email template {template!r}")
    return await enqueue(session, EMAIL_JOB, {"to": to, "template": template, "context": context})


async def queue_message(
    session: AsyncSession, to: str, subject: str, text: str | None, html: str | None
) -> Job:
    """Queue a message written by the caller (the admin send endpoint)."""
    if text is None and html is None:
        raise ValueError("an email needs a text or an HTML body")
    return await enqueue(
        session, EMAIL_JOB, {"to": to, "subject": subject, "text": text, "html": html}
    )


def message_of(payload: dict[str, Any]) -> OutgoingEmail:
    """The email an `email.send` job stands for."""
    if "template" in payload:
        return render(payload["to"], payload["template"], dict(payload.get("context") or {}))
    return OutgoingEmail(
        to=payload["to"],
        subject=payload["subject"],
        text=payload.get("text"),
        html=payload.get("html"),
    )


async def deliver(settings: Settings, payload: dict[str, Any]) -> None:
    """Render and send the email of an `email.send` job. Raises `UnsendableEmail` or the
    transport's `MailRejected` when no retry can succeed, other errors when one may."""
    if not email_enabled(settings):
        # Production without SMTP_HOST: retrying cannot help, so the message is dropped
        # with a warning instead of filling the dead-job list.
        log.warning("email_dropped", reason="SMTP_HOST is unset", template=payload.get("template"))
        return
    try:
        message = compose(settings, message_of(payload))
    except Exception as exc:
        # Whatever breaks here (a missing key, an undefined template variable, a header
        # with a line break) depends only on the payload, so it breaks on every try.
        raise UnsendableEmail(f"cannot compose the email: {exc!r}") from exc
    await transport_for(settings).send(message)
    log.info("email_sent", template=payload.get("template"))
