"""The ceiling for any FastAPI app: FastAPI routes answering the same bytes as the bare app.

No middleware, no dependencies, no validation: each route returns the stored response
bytes. Whatever Bazaar does on top (auth, database, limits, logging) can only be slower,
so this row shows how much of the bare app's throughput the framework alone leaves.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from bench.bare_app import BODIES

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def _route(body: bytes):  # type: ignore[no-untyped-def]
    async def answer() -> Response:
        return Response(body, media_type="application/json")

    return answer


for _path, _body in BODIES.items():
    app.add_api_route(_path, _route(_body), methods=["GET"])
