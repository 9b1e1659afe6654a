"""Category request bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from bazaar.kit.fields import Line, VisibleLine
from bazaar.kit.schemas import Input, Schema
from bazaar.marketplace.categories.slugs import SLUG_MAX, check_slug

NAME_MAX = 120
ICON_MAX = 120
SORT_LIMIT = 1_000_000


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null")
    return value


class CategoryCreate(Input):
    name: VisibleLine = Field(min_length=1, max_length=NAME_MAX, description="Display name")
    slug: str | None = Field(
        None,
        max_length=SLUG_MAX,
        description="URL slug (`^[a-z0-9]+(?:-[a-z0-9]+)*$`); derived from the name when omitted",
    )
    parent_id: str | None = Field(
        None, description="Parent category (UUID, slug or legacy id); omit for a top-level one"
    )
    icon: Line | None = Field(None, max_length=ICON_MAX, description="Icon name or emoji")
    sort_order: int = Field(0, ge=-SORT_LIMIT, le=SORT_LIMIT, description="Lower comes first")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return None if value is None else check_slug(value)


class CategoryUpdate(Input):
    """Only the fields present in the body change; `parentId: null` makes it top-level."""

    name: VisibleLine | None = Field(None, min_length=1, max_length=NAME_MAX)
    slug: str | None = Field(None, max_length=SLUG_MAX)
    parent_id: str | None = None
    icon: Line | None = Field(None, max_length=ICON_MAX)
    sort_order: int | None = Field(None, ge=-SORT_LIMIT, le=SORT_LIMIT)

    @field_validator("name", "sort_order")
    @classmethod
    def _required_if_given(cls, value: Any) -> Any:
        return _not_null(value)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str:
        return check_slug(_not_null(value))


class CategoryOut(Schema):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    slug: str
    name: str
    icon: str | None
    sort_order: int
    created_at: datetime
    updated_at: datetime


class CategoryNode(CategoryOut):
    children: list[CategoryNode] = Field(
        default_factory=list, description="Sub-categories, ordered by sortOrder then name"
    )


class CategoryFlat(CategoryOut):
    depth: int = Field(description="0 for a top-level category, 1 for its children, ...")


class CategoryCrumb(Schema):
    id: uuid.UUID
    slug: str
    name: str


class CategoryDetail(CategoryNode):
    ancestors: list[CategoryCrumb] = Field(
        default_factory=list, description="From the top-level category down to the parent"
    )


class CategoryDeleted(Schema):
    id: uuid.UUID
    deleted: bool = True
