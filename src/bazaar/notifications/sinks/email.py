"""The email sink: a `notification.send` job that sends through the email transport
(bazaar.email), so SMTP runs with no transaction open and an outage only delays it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.email.service import UnsendableEmail, deliver
from bazaar.email.transport import MailRejected
from bazaar.kit.jobs import PermanentJobError, enqueue
from bazaar.notifications.sinks.base import Delivery, Sink

SEND_JOB = "notification.send"  # notifications.service.SEND_JOB


class EmailSink(Sink):
    name = "email"
    channel = "email"

    async def queue(self, session: AsyncSession, delivery: Delivery) -> Delivery:
        if not delivery.user.email:
            return delivery
        text = f"{delivery.body}\n\n— Bazaar\n"
        payload = {
            "sink": self.name,
            "userId": str(delivery.user.id),
            "type": delivery.type,
            "email": {"to": delivery.user.email, "subject": delivery.title, "text": text},
        }
        await enqueue(
            session, SEND_JOB, payload, dedupe_key=f"notification:{delivery.job_id}:email"
        )
        return delivery

    async def send(self, settings: Settings, payload: dict[str, Any]) -> None:
        message = payload.get("email")
        if not isinstance(message, dict) or not message.get("to"):
            raise PermanentJobError("the delivery has no email to send")
        try:
            await deliver(settings, {**message, "html": None})
        except (MailRejected, UnsendableEmail) as exc:
            raise PermanentJobError(str(exc)) from exc
