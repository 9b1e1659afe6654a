"""Template errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, Forbidden, NotFound


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"
    message = "Template not found"


class ShopRequired(Conflict):
    code = "SHOP_REQUIRED"
    message = "Create your shop before adding templates"


class OwnTemplate(Forbidden):
    code = "CANNOT_INSTANTIATE_OWN_TEMPLATE"
    message = "You cannot order from your own template"


class TemplateUnavailable(Conflict):
    code = "TEMPLATE_UNAVAILABLE"
    message = "This seller is not taking orders right now"
