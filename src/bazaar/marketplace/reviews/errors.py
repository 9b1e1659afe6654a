"""Review errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, NotFound


class RequestNotFound(NotFound):
    code = "REQUEST_NOT_FOUND"
    message = "Purchase request not found"


class ReviewNotAllowed(Conflict):
    code = "REVIEW_NOT_ALLOWED"
    message = "Reviews open only once the request is completed"


class ReviewWindowClosed(Conflict):
    code = "REVIEW_WINDOW_CLOSED"
    message = "The review window for this request has closed"


class AlreadyReviewed(Conflict):
    code = "ALREADY_REVIEWED"
    message = "You have already reviewed this request"
