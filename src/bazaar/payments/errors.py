"""Payment errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, Forbidden, InvalidStateTransition, NotFound


class PaymentInProgress(Conflict):
    code = "PAYMENT_IN_PROGRESS"
    message = "Money for this request is already arriving; it can no longer be cancelled"


class TokenNotPayable(Conflict):
    code = "TOKEN_NOT_PAYABLE"
    message = (
        "This offer's token cannot be paid on its network (no contract in the token "
        "registry); the seller must edit the offer"
    )


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    message = "Payment not found"


class PaymentNotHeld(Conflict):
    code = "PAYMENT_NOT_HELD"
    message = "Only a payment held in escrow can be released"


class PaymentNotRefundable(Conflict):
    code = "PAYMENT_NOT_REFUNDABLE"
    message = "Only a payment held in escrow or awaiting review can be refunded"


class DeliveryNotConfirmable(Conflict):
    code = "DELIVERY_NOT_CONFIRMABLE"
    message = "The money is released once the seller has delivered (the request is delivered)"


class NotThePaymentBuyer(Forbidden):
    code = "NOT_THE_BUYER"
    message = "Only the buyer (or an admin) can release this payment"


class NotThePaymentSeller(Forbidden):
    code = "NOT_THE_SELLER"
    message = "Only the seller (or an admin) can refund this payment"


def invalid_move(
    from_status: str, to_status: str, why: str | None = None
) -> InvalidStateTransition:
    message = f"A {from_status} payment cannot move to {to_status}"
    return InvalidStateTransition(
        f"{message}: {why}" if why else message,
        details={"from": from_status, "to": to_status},
    )


class PaymentHeld(Conflict):
    code = "PAYMENT_HELD"
    message = (
        "The money is held in escrow: release or refund the payment "
        "(POST /api/payment/{id}/release or /refund) instead of forcing the request"
    )


class PaymentDisputed(Conflict):
    code = "PAYMENT_DISPUTED"
    message = "The request is disputed: its money moves by the dispute's decision"
