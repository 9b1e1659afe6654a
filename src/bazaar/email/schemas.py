"""Request and response models of /api/email (admin tools)."""

from __future__ import annotations

import uuid
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from bazaar.kit.fields import MultiLine, VisibleLine
from bazaar.kit.schemas import Input, Schema


def _address(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


Recipient = Annotated[str, StringConstraints(max_length=320), AfterValidator(_address)]


class TestEmailInput(Input):
    to: Recipient = Field(examples=["ops@example.com"])


class SendEmailInput(Input):
    to: Recipient
    # A header value: no line breaks, so it cannot add headers of its own.
    # One line: every line-break class is refused (U+2028 and friends once passed the old
    # `^[^\r\n]*$` rule, then failed in the mail library on every retry).
    subject: Annotated[VisibleLine, StringConstraints(min_length=1, max_length=200)]
    text: Annotated[MultiLine, StringConstraints(max_length=100_000)] | None = None
    html: Annotated[MultiLine, StringConstraints(max_length=500_000)] | None = None

    @model_validator(mode="after")
    def _has_body(self) -> SendEmailInput:
        if not self.text and not self.html:
            raise ValueError("give a text or an html body")
        return self


class QueuedEmail(Schema):
    queued: bool = True
    job_id: uuid.UUID
    to: str
