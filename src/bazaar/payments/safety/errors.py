"""Transaction-safety errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict
from bazaar.payments.errors import PaymentNotFound

__all__ = ["NotApprovable", "NotAwaitingReview", "PaymentNotFound"]


class NotAwaitingReview(Conflict):
    code = "PAYMENT_NOT_AWAITING_REVIEW"
    message = "This payment is not waiting for a guard's review"


class NotApprovable(Conflict):
    code = "PAYMENT_NOT_APPROVABLE"
    message = (
        "This payment cannot be held: its request no longer waits for it or it is not paid "
        "in full; reject it to refund the buyer"
    )
