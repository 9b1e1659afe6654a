"""The baseline: a bare Starlette app answering the same JSON bytes as the measured routes.

bench/run.py captures Bazaar's real responses for the measured paths and hands them over in
BENCH_BARE_BODIES (a JSON file {path: body}); this app returns each one verbatim, with no
middleware, auth, database or validation. Served by uvicorn exactly like `bazaar serve`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _bodies() -> dict[str, bytes]:
    source = os.environ.get("BENCH_BARE_BODIES")
    if not source:
        return {"/api/auth/me": b'{"success":true,"data":{}}'}
    return {path: body.encode() for path, body in json.loads(Path(source).read_text()).items()}


BODIES = _bodies()


def _endpoint(body: bytes):  # type: ignore[no-untyped-def]
    async def answer(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return answer


app = Starlette(routes=[Route(path, _endpoint(body)) for path, body in BODIES.items()])
