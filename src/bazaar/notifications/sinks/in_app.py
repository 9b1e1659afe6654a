"""The in-app sink: a row in `notifications`, listed by `/api/notification`."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.models.notifications import Notification
from bazaar.notifications import repository
from bazaar.notifications.sinks.base import Delivery, Sink


class InAppSink(Sink):
    name = "in_app"
    channel = "inApp"

    async def queue(self, session: AsyncSession, delivery: Delivery) -> Delivery:
        row = await repository.by_source_job(session, delivery.job_id)
        if row is None:
            row = Notification(
                user_id=delivery.user.id,
                type=delivery.type,
                title=delivery.title,
                body=delivery.body,
                data=delivery.data,
                locale=delivery.locale,
                source_job_id=delivery.job_id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
        return dataclasses.replace(delivery, notification_id=row.id)
