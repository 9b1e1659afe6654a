"""Payment errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict


class PaymentInProgress(Conflict):
    code = "PAYMENT_IN_PROGRESS"
    message = "Money for this request is already arriving; it can no longer be cancelled"


class TokenNotPayable(Conflict):
    code = "TOKEN_NOT_PAYABLE"
    message = (
        "This offer's token cannot be paid on its network (no contract in the token "
        "registry); the seller must edit the offer"
    )
