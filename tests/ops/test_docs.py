"""The API reference: /openapi.json, and /docs that renders with no internet access."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.ops.helpers import platform_client, settings_like


def references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_docs_page_loads_everything_from_this_server(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "http://" not in html and "https://" not in html
        urls = references(html)
        assert urls, "the page references its assets"
        types = {}
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            types[url.rsplit("/", 1)[1]] = asset.headers["content-type"]
        assert types["swagger-ui-bundle.js"].startswith("text/javascript")
        assert types["swagger-ui.css"].startswith("text/css")
        init = await client.get("/docs/assets/docs-init.js")
        assert "SwaggerUIBundle(" in init.text
        assert 'data-openapi-url="/openapi.json"' in html


async def test_docs_page_has_no_inline_script_the_csp_would_block(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        page = await client.get("/docs")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts
    for attributes, body in scripts:
        assert 'src="/' in attributes
        assert body.strip() == ""


async def test_openapi_document_is_served(settings: Settings, db: Database, tmp_path: Path) -> None:
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "Bazaar API"
    assert "/health" in spec["paths"]
    # Internal plumbing is not part of the documented API.
    assert "/metrics" not in spec["paths"] and "/docs" not in spec["paths"]


async def test_only_known_assets_are_served(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        for name in ("index.html", "..%2F..%2Fconfig.py", "docs.html", "swagger-ui.js.map"):
            response: httpx.Response = await client.get(f"/docs/assets/{name}")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"
