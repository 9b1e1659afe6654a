"""Payment states of SPEC §5 and the moves between them, as data.

Moves are monotonic: a payment never returns to an earlier state, except that a chain reorg
may move `confirming` (or `partially_paid`) back to `pending`, and money confirmed for a
payment already closed (`expired`/`cancelled`: paid too late) puts it in `awaiting_review`,
where a guard refunds it (escrow.on_funds_confirmed). `payments/lifecycle.py` is
the only code that changes `Payment.status`, and only along this table.
"""

from __future__ import annotations

PENDING = "pending"
PARTIALLY_PAID = "partially_paid"
CONFIRMING = "confirming"
AWAITING_REVIEW = "awaiting_review"
HELD = "held"
RELEASED = "released"
REFUNDED = "refunded"
SPLIT = "split"
EXPIRED = "expired"
CANCELLED = "cancelled"
FAILED = "failed"

STATUSES = (
    PENDING,
    PARTIALLY_PAID,
    CONFIRMING,
    AWAITING_REVIEW,
    HELD,
    RELEASED,
    REFUNDED,
    SPLIT,
    EXPIRED,
    CANCELLED,
    FAILED,
)
# Over: no money will move any more.
TERMINAL = frozenset({RELEASED, REFUNDED, SPLIT, EXPIRED, CANCELLED, FAILED})
# Closed without money: the marketplace may drop or reopen around them.
CLOSED = (EXPIRED, CANCELLED, FAILED)
UNPAID = (PENDING, *CLOSED)
# Waiting for (the rest of) the buyer's money.
UNFUNDED = (PENDING, PARTIALLY_PAID)

MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({PARTIALLY_PAID, CONFIRMING, EXPIRED, CANCELLED, FAILED}),
    PARTIALLY_PAID: frozenset({CONFIRMING, PENDING, AWAITING_REVIEW, HELD, REFUNDED, FAILED}),
    CONFIRMING: frozenset({PENDING, PARTIALLY_PAID, AWAITING_REVIEW, HELD, FAILED}),
    AWAITING_REVIEW: frozenset({HELD, REFUNDED}),
    HELD: frozenset({RELEASED, REFUNDED, SPLIT}),
    # Paid late: the money is real and must be returned, so the payment leaves its closed state.
    EXPIRED: frozenset({AWAITING_REVIEW}),
    CANCELLED: frozenset({AWAITING_REVIEW}),
}


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in MOVES.get(from_status, frozenset())
