"""`/uploads/{id}`: a file's bytes, with safe headers, ETag and Range support."""

from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse

from bazaar.auth.dependencies import OptionalUser
from bazaar.files import service
from bazaar.files.errors import FileNotFound, RangeNotSatisfiable
from bazaar.files.sniff import ALLOWED, IMAGES
from bazaar.files.storage import get_storage
from bazaar.kit.deps import ReadSession, SettingsDep
from bazaar.kit.openapi import errors

router = APIRouter()

# Every type an upload can be stored as.
SERVED = frozenset().union(*ALLOWED.values())
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single `bytes=` range, None to send it all (no or an
    unsupported header); RangeNotSatisfiable when it lies outside the file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple ranges or another unit: answer with the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/{file_id}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes", "content": {t: {} for t in sorted(SERVED)}},
        206: {
            "description": "Part of the file (Range)",
            "content": {t: {} for t in sorted(SERVED)},
        },
        304: {"description": "Not modified (If-None-Match)"},
        **errors(FileNotFound, RangeNotSatisfiable),
    },
)
async def serve(
    file_id: uuid.UUID,
    viewer: OptionalUser,
    session: ReadSession,
    settings: SettingsDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A file's bytes for whoever may read it (else 404): the owner; anyone for avatars
    and blog images; for attached files, whoever may read the request or conversation."""
    file = await service.get_readable(session, viewer, file_id)
    storage = get_storage(settings)
    if not await storage.exists(file.storage_key):
        raise FileNotFound()
    etag = f'"{file.sha256}"'
    image = file.content_type in IMAGES
    public = file.purpose in service.PUBLIC_PURPOSES
    name = quote(file.original_name or "file")
    # `X-Content-Type-Options: nosniff` and a Content-Security-Policy come with every
    # response (kit/http.py SECURITY_HEADERS).
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": ("public" if public else "private") + ", max-age=3600",
        "Content-Disposition": f"{'inline' if image else 'attachment'}; filename*=UTF-8''{name}",
    }
    if if_none_match and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    span = byte_range(range_, file.size)
    start, end, status = 0, file.size - 1, 200
    if span is not None:
        start, end = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        storage.read(file.storage_key, start, end),
        status_code=status,
        media_type=file.content_type,
        headers=headers,
    )
