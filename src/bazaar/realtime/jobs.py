"""The worker's side of live events: send the `realtime.emit` jobs the committing process
did not (it crashed between commit and send, or it serves no sockets, e.g. a CLI command).

Jobs past `expires_at` are never run (the worker marks them `expired`); the handler checks
the expiry again right before sending, since a retry may come late.
"""

from __future__ import annotations

from typing import Any

import structlog

from bazaar.kit.db import utcnow
from bazaar.kit.jobs import JobContext, PermanentJobError, job_handler
from bazaar.kit.tables import Job
from bazaar.realtime import hub, outbox
from bazaar.realtime.events import REALTIME_JOB

log = structlog.get_logger("bazaar.realtime")


@job_handler(REALTIME_JOB, io=True)
async def send_event(ctx: JobContext, payload: dict[str, Any]) -> None:
    room, event, data = payload.get("room"), payload.get("event"), payload.get("data")
    if not isinstance(room, str) or not isinstance(event, str):
        raise PermanentJobError("payload needs a room and an event")
    async with ctx.db.reading() as session:
        job = await session.get(Job, ctx.job_id)
    if job is None or not outbox.live(job, utcnow()):
        log.info("realtime_event_dropped", job_id=str(ctx.job_id), reason="expired")
        return
    sender = hub.sender_for(ctx.settings)
    if sender is None:
        log.info("realtime_event_unsent", job_id=str(ctx.job_id), reason="no socket server")
        return
    await sender(room, event, data)
