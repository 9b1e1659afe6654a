"""Notifications: business code calls `notify`, which leaves a durable job.

Delivery (in-app rows, socket, email, Telegram) is built by the notifications issue; until
then the jobs wait in the `jobs` table (kind `notification.deliver`) and nothing is lost.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.jobs import enqueue
from bazaar.models import Job

NOTIFICATION_JOB = "notification.deliver"


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    type: str,
    data: dict[str, Any] | None = None,
) -> Job:
    """Queue a typed notification (e.g. `offer.received`) for one user."""
    return await enqueue(
        session,
        NOTIFICATION_JOB,
        {"userId": str(user_id), "type": type, "data": data or {}},
    )
