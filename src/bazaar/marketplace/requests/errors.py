"""Purchase request errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, Forbidden, InvalidStateTransition, NotFound


class RequestNotFound(NotFound):
    code = "REQUEST_NOT_FOUND"
    message = "Purchase request not found"


class NotTheBuyer(Forbidden):
    message = "Only the buyer of this request can do this"


class TransitionForbidden(Forbidden):
    message = "You may not move this request to that state"


class RequestNotEditable(Conflict):
    code = "REQUEST_NOT_EDITABLE"
    message = "A request can be edited only while it is a draft or open with no accepted offer"


class RequestNotOpen(Conflict):
    code = "REQUEST_NOT_OPEN"
    message = "This request is not open for offers"


class TransitionNotForceable(Conflict):
    code = "TRANSITION_NOT_FORCEABLE"
    message = (
        "This move cannot be forced: a request is funded only when the payment is confirmed "
        "held in escrow on the chain"
    )


class TransitionNeedsInput(Conflict):
    code = "TRANSITION_NEEDS_INPUT"
    message = "This transition needs more than a reason; use its own endpoint"


def invalid_transition(
    from_status: str, to_status: str, why: str | None = None
) -> InvalidStateTransition:
    message = f"A {from_status} request cannot move to {to_status}"
    return InvalidStateTransition(
        f"{message}: {why}" if why else message,
        details={"from": from_status, "to": to_status},
    )
