"""`email.send`: an I/O job, so SMTP never runs inside a database transaction."""

from __future__ import annotations

from typing import Any

from bazaar.email.service import EMAIL_JOB, UnsendableEmail, deliver
from bazaar.email.transport import MailRejected
from bazaar.kit.jobs import JobContext, PermanentJobError, job_handler


@job_handler(EMAIL_JOB, io=True)
async def send_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Refusals (5xx) and messages that cannot be built are dead-lettered at once;
    connection errors, timeouts and 4xx replies are retried with backoff."""
    try:
        await deliver(ctx.settings, payload)
    except (MailRejected, UnsendableEmail) as exc:
        raise PermanentJobError(str(exc)) from exc
