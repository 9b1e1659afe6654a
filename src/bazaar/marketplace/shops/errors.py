"""Shop errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, NotFound


class ShopNotFound(NotFound):
    code = "SHOP_NOT_FOUND"
    message = "Shop not found"


class ShopExists(Conflict):
    code = "SHOP_EXISTS"
    message = "You already have a shop; update it instead"


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    message = "This slug is already in use"
