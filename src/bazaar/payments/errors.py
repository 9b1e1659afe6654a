"""Payment errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict


class PaymentInProgress(Conflict):
    code = "PAYMENT_IN_PROGRESS"
    message = "Money for this request is already arriving; it can no longer be cancelled"
