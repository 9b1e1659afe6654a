"""`/api/admin/cleanup`: remove one payment provider's unfunded leftovers (admin only)."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.auth.dependencies import AdminUser
from bazaar.kit.deps import WriteSession
from bazaar.kit.schemas import Envelope
from bazaar.payments import service as payments
from bazaar.payments.schemas import CleanupIn, CleanupOut

router = APIRouter()


@router.post("", response_model=Envelope[CleanupOut])
@router.post("/", include_in_schema=False, response_model=Envelope[CleanupOut])
async def cleanup(body: CleanupIn, admin: AdminUser, session: WriteSession) -> Envelope[CleanupOut]:
    """Remove what testing a provider (e.g. its sandbox) left behind: its payments that
    are `pending`, `expired` or `cancelled` and that no money ever touched (no ledger
    transaction, no chain transfer, no payout), and the requests that existed only for
    them (every payment of the request is such a leftover and the request never got past
    `accepted`), with their offers and history.

    `dryRun` (default true) only lists what would go. A payment with ledger entries is
    never removed."""
    found = await payments.cleanup(session, body.provider, dry_run=body.dry_run)
    out = CleanupOut(
        provider=body.provider,
        dry_run=body.dry_run,
        payment_ids=[p.id for p in found.payments],
        request_ids=found.request_ids,
    )
    return Envelope(data=out)
