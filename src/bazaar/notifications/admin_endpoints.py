"""`/api/admin/notifications`: notification deliveries (email) that failed for good, and
running one again. Admins only."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from bazaar.auth.dependencies import AdminUser
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.errors import RoleRequired
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.kit.tables import Job
from bazaar.notifications import service
from bazaar.notifications.errors import DeliveryNotDead, DeliveryNotFound
from bazaar.notifications.schemas import DeliveryOut

router = APIRouter()


def _id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise DeliveryNotFound() from None


def _out(job: Job) -> DeliveryOut:
    payload = job.payload or {}
    return DeliveryOut(
        id=job.id,
        sink=str(payload.get("sink", "")),
        type=payload.get("type"),
        user_id=payload.get("userId"),
        status=job.status,
        attempts=job.attempts,
        last_error=job.last_error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


@router.get(
    "/deliveries",
    response_model=Envelope[Page[DeliveryOut]],
    responses=errors(RoleRequired),
)
async def list_deliveries(
    admin: AdminUser,
    session: ReadSession,
    params: Pagination,
    status: Annotated[
        Literal["dead", "pending", "running", "done"],
        Query(description="Deliveries in this state; `dead` (the default) failed for good"),
    ] = "dead",
) -> Envelope[Page[DeliveryOut]]:
    """Notification deliveries by state, newest first, each with its last error."""
    rows, total = await service.list_deliveries(session, params, status)
    return Envelope(data=Page[DeliveryOut].build([_out(r) for r in rows], total, params))


@router.post(
    "/deliveries/{delivery_id}/rerun",
    response_model=Envelope[DeliveryOut],
    responses=errors(RoleRequired, DeliveryNotFound, DeliveryNotDead),
)
async def rerun_delivery(
    delivery_id: str, admin: AdminUser, session: WriteSession
) -> Envelope[DeliveryOut]:
    """Queue a dead delivery again (fresh attempts, due now); 409 unless it is dead."""
    job = await service.rerun_delivery(session, _id(delivery_id))
    return Envelope(data=_out(job))
