"""The sink interface.

Delivery of one notification happens in two steps, so no network I/O runs while a write
transaction is open:

1. `queue(session, delivery)` runs inside the `notification.deliver` job's transaction. A
   sink that only writes rows (in-app) does its work here; a sink that talks to the
   network leaves a durable job (`notification.send`, or the realtime layer's
   `realtime.emit`) that exists only if the transaction commits.
2. `send(settings, payload)` runs in the `notification.send` I/O job, outside any
   transaction: retryable failures raise (the worker backs off and tries again), permanent
   ones raise `PermanentJobError` (the job is dead-lettered with the reason).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.models import User


@dataclass(frozen=True)
class Delivery:
    """One notification for one user, rendered in their language."""

    job_id: uuid.UUID  # the notification.deliver job
    user: User
    type: str
    data: dict[str, Any]
    locale: str
    title: str
    body: str
    notification_id: uuid.UUID | None = None  # the in-app row, once written


class Sink:
    name: ClassVar[str]
    channel: ClassVar[str]  # the preference channel that switches it on

    async def queue(self, session: AsyncSession, delivery: Delivery) -> Delivery:
        """Inside the transaction: write rows and/or queue the network work."""
        raise NotImplementedError

    async def send(self, settings: Settings, payload: dict[str, Any]) -> None:
        """Outside any transaction: the network work queued by `queue`."""
        raise NotImplementedError(f"the {self.name} sink sends nothing later")
