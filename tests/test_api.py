"""The route table: every mount path reaches its router, and paths that only look alike
(`/api/user` and `/api/users`, a trailing slash, a longer word) are told apart."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from bazaar.api import ROUTES, MountedRouter
from tests.fixtures.users import Account


async def test_every_mount_path_has_its_routes_and_docs(app: FastAPI) -> None:
    mounted = [
        r
        for r in app.router.routes
        if isinstance(getattr(r, "original_router", None), MountedRouter)
    ]
    assert len(mounted) == len(ROUTES)
    paths = app.openapi()["paths"]
    for prefix, _ in ROUTES:
        assert any(p == prefix or p.startswith(prefix + "/") for p in paths), prefix


async def test_lookalike_paths_reach_the_right_router(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    me = await client.get("/api/user/profile", headers=buyer.headers)
    alias = await client.get("/api/users/profile", headers=buyer.headers)
    assert me.status_code == alias.status_code == 200
    assert me.json() == alias.json()
    for path in ("/api/userz/profile", "/api/addresses", "/api/auth-me", "/api/address-book"):
        answer = await client.get(path, headers=buyer.headers)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "NOT_FOUND"


async def test_mount_path_itself_and_its_slash_form(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    bare = await client.get("/api/address", headers=buyer.headers)
    assert bare.status_code == 200
    assert bare.json()["data"]["items"] == []
    slashed = await client.get("/api/address/", headers=buyer.headers)
    assert slashed.status_code in (200, 307)
    wrong_method = await client.delete("/api/address", headers=buyer.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
