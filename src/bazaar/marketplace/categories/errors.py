"""Category errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, NotFound


class CategoryNotFound(NotFound):
    code = "CATEGORY_NOT_FOUND"
    message = "Category not found"


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    message = "This slug is already in use"


class CategoryCycle(Conflict):
    code = "CATEGORY_CYCLE"
    message = "A category cannot be moved under itself or one of its sub-categories"


class CategoryInUse(Conflict):
    code = "CATEGORY_IN_USE"
    message = "This category still has sub-categories or is used by requests or templates"
