"""The notification jobs.

`notification.deliver` (transactional, queued by `notify`): render the notification in the
user's language and hand it to each sink the user wants for its type: the in-app row is
written here, the socket push and the email become jobs of their own, so a slow or failing
sink neither blocks nor rolls back anything, and each is retried on its own.

`notification.send` (I/O, no transaction open): one network delivery (email); retryable
failures back off, permanent ones are dead-lettered with the reason (admins list and re-run
them at `/api/admin/notifications/deliveries`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.jobs import JobContext, PermanentJobError, job_handler
from bazaar.notifications import service
from bazaar.notifications.service import NOTIFICATION_JOB, SEND_JOB
from bazaar.notifications.sinks import BY_NAME


@job_handler(NOTIFICATION_JOB)
async def deliver_notification(
    ctx: JobContext, session: AsyncSession, payload: dict[str, Any]
) -> None:
    await service.deliver(session, ctx.job_id, payload)


@job_handler(SEND_JOB, io=True)
async def send_notification(ctx: JobContext, payload: dict[str, Any]) -> None:
    sink = BY_NAME.get(str(payload.get("sink")))
    if sink is None:
        raise PermanentJobError(f"unknown sink {payload.get('sink')!r}")
    await sink.send(ctx.settings, payload)
