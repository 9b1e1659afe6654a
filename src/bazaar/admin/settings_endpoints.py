"""`/api/admin/settings`: settings admins change at runtime (confirmation thresholds)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from bazaar.auth.dependencies import AdminUser
from bazaar.kit.db import utcnow
from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.schemas import Envelope
from bazaar.payments.safety import service as safety
from bazaar.payments.safety.schemas import ThresholdIn, ThresholdOut, ThresholdsOut

router = APIRouter()

THRESHOLDS = "/confirmation-thresholds"
MAX_ITEMS = 100


def _out(rows: list[safety.Threshold], default: int) -> ThresholdsOut:
    return ThresholdsOut(default=default, items=[ThresholdOut.model_validate(r) for r in rows])


@router.get(THRESHOLDS, response_model=Envelope[ThresholdsOut])
async def get_thresholds(
    admin: AdminUser, session: ReadSession, settings: SettingsDep
) -> Envelope[ThresholdsOut]:
    """Confirmations a funding transfer needs before its money counts, per chain and token:
    every pair the token registry can be paid on, and where each value comes from."""
    rows = await safety.list_thresholds(session, settings=settings)
    return Envelope(data=_out(rows, settings.transaction_safety_default_confirmations))


@router.put(THRESHOLDS, response_model=Envelope[ThresholdsOut])
async def put_thresholds(
    body: Annotated[ThresholdIn | list[ThresholdIn], Body()],
    admin: AdminUser,
    session: WriteSession,
    settings: SettingsDep,
) -> Envelope[ThresholdsOut]:
    """Set the confirmations for one `{chainId, currency, confirmations}` or a list of them
    (at most 100; all checked before any is stored). The chain must be one the token is
    paid on; confirmations from 1 to 10000. Takes effect for the next check of every
    transfer. Answers the whole table."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ValidationFailed.on("body", "give at least one threshold")
    if len(items) > MAX_ITEMS:
        raise ValidationFailed.on("body", f"at most {MAX_ITEMS} thresholds at once")
    changes = [safety.ThresholdChange(i.chain_id, i.currency, i.confirmations) for i in items]
    rows = await safety.set_thresholds(
        session, changes, admin=admin, settings=settings, now=utcnow()
    )
    return Envelope(data=_out(rows, settings.transaction_safety_default_confirmations))
