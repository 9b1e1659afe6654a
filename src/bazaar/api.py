"""The one list of routers and their mount paths (seed §4 route table)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

ROUTES: list[tuple[str, str]] = [
    # (mount path, module with a `router`)
    ("/api/auth", "bazaar.auth.endpoints"),
    ("/api/user", "bazaar.users.endpoints"),
    ("/api/users", "bazaar.users.endpoints"),
    ("/api/address", "bazaar.users.address_endpoints"),
    ("/api/admin/users", "bazaar.admin.users_endpoints"),
    ("/api/marketplace/categories", "bazaar.marketplace.categories.endpoints"),
    ("/api/marketplace/shop-settings", "bazaar.marketplace.shops.endpoints"),
    ("/api/marketplace/requests", "bazaar.marketplace.requests.endpoints"),
    ("/api/marketplace/offers", "bazaar.marketplace.offers.endpoints"),
    ("/api/marketplace/templates", "bazaar.marketplace.templates.endpoints"),
    ("/api/marketplace/reviews", "bazaar.marketplace.reviews.endpoints"),
    ("/api/email", "bazaar.email.endpoints"),
]


def include_routers(app: FastAPI) -> None:
    import importlib

    for prefix, module_name in ROUTES:
        module = importlib.import_module(module_name)
        router: APIRouter = module.router
        tag = prefix.removeprefix("/api/")
        app.include_router(router, prefix=prefix, tags=[tag])
