"""`email.send`: render a queued email and hand it to the transport (SMTP or .eml folder)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings, get_settings
from bazaar.email.service import EMAIL_JOB, message_of
from bazaar.email.transport import compose, email_enabled, transport_for
from bazaar.kit.jobs import job_handler

log = structlog.get_logger("bazaar.email")


def _settings(session: AsyncSession) -> Settings:
    """The running worker's settings when it put them on the session, else the process's."""
    settings = session.info.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


@job_handler(EMAIL_JOB)
async def send_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    settings = _settings(session)
    if not email_enabled(settings):
        # Production without SMTP_HOST: retrying cannot help, so the message is dropped
        # with a warning instead of filling the dead-job list.
        log.warning("email_dropped", reason="SMTP_HOST is unset", template=payload.get("template"))
        return
    message = compose(settings, message_of(payload))
    await transport_for(settings).send(message)
    log.info("email_sent", template=payload.get("template"))
