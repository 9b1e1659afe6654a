"""Review request bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from bazaar.kit.fields import MultiLine
from bazaar.kit.schemas import Input, Schema

REVIEW_TEXT_MAX = 2000

# Strict: "5", 4.0 and true are refused rather than silently coerced into a rating.
Rating = Annotated[int, Field(ge=1, le=5, strict=True)]
ReviewRole = Literal["buyer", "seller"]


class ReviewCreate(Input):
    request_id: str = Field(min_length=1, max_length=64, description="Request UUID or legacy id")
    rating: Rating = Field(description="Whole stars, 1 to 5")
    text: MultiLine | None = Field(None, max_length=REVIEW_TEXT_MAX)

    @field_validator("text")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class ReviewOut(Schema):
    id: uuid.UUID
    request_id: uuid.UUID
    author_id: uuid.UUID
    author_name: str
    author_role: ReviewRole = Field(description="The author's side of the deal")
    subject_id: uuid.UUID
    rating: int
    text: str | None
    created_at: datetime


class RequestReviews(Schema):
    """Both sides' reviews of one deal, and whether the caller may still write theirs."""

    reviews: list[ReviewOut]
    can_review: bool
    review_window_closes_at: datetime | None
