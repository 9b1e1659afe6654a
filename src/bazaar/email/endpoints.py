"""/api/email: admin tools to check outgoing mail and send a one-off message."""

from __future__ import annotations

from fastapi import APIRouter, status

from bazaar.auth.dependencies import AdminUser
from bazaar.email import jobs as _jobs  # noqa: F401  (registers the email.send handler)
from bazaar.email.schemas import QueuedEmail, SendEmailInput, TestEmailInput
from bazaar.email.service import queue_email, queue_message
from bazaar.email.transport import EmailDisabled, email_enabled
from bazaar.kit.db import utcnow
from bazaar.kit.deps import SettingsDep, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope

router = APIRouter()


@router.post(
    "/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[QueuedEmail],
    responses=errors(EmailDisabled),
)
async def send_test_email(
    body: TestEmailInput, admin: AdminUser, session: WriteSession, settings: SettingsDep
) -> Envelope[QueuedEmail]:
    """Queue the built-in test email to an address (admin only).

    The message is sent by the background worker within seconds; in development without
    `SMTP_HOST` it is written to `data/mail/` instead.
    """
    if not email_enabled(settings):
        raise EmailDisabled()
    job = await queue_email(
        session,
        body.to,
        "test",
        {"sent_at": utcnow().strftime("%Y-%m-%d %H:%M UTC"), "requested_by": admin.email},
    )
    return Envelope(data=QueuedEmail(job_id=job.id, to=body.to))


@router.post(
    "/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[QueuedEmail],
    responses=errors(EmailDisabled),
)
async def send_email(
    body: SendEmailInput, admin: AdminUser, session: WriteSession, settings: SettingsDep
) -> Envelope[QueuedEmail]:
    """Queue a message with your own subject and a text and/or HTML body (admin only)."""
    if not email_enabled(settings):
        raise EmailDisabled()
    job = await queue_message(session, body.to, body.subject, body.text, body.html)
    return Envelope(data=QueuedEmail(job_id=job.id, to=body.to))
