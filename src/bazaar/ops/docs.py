"""GET /docs: Swagger UI served from the installed package, so it works with no internet.

The UI files come from the `swagger-ui-bundle-v2` wheel (Swagger UI 5, which reads the
OpenAPI 3.1 that FastAPI emits); the page and its start-up script are ours, in
bazaar/static, because the Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from bazaar.kit.errors import NotFound

router = APIRouter()

_STATIC = Path(str(resources.files("bazaar") / "static"))
_VENDOR = Path(str(swagger_ui_path))
# Only these names are served; nothing else in either folder is reachable.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "favicon-32x32.png": (_VENDOR / "favicon-32x32.png", "image/png"),
    "docs-init.js": (_STATIC / "docs-init.js", "text/javascript"),
}


@lru_cache(maxsize=1)
def _page() -> str:
    return (_STATIC / "docs.html").read_text(encoding="utf-8")


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return HTMLResponse(_page())


@router.get("/docs/assets/{name}", include_in_schema=False)
async def docs_asset(name: str) -> FileResponse:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound(f"No docs asset named {name!r}")
    path, media_type = asset
    # The files change only with an upgrade of the package; a day of caching is safe.
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
