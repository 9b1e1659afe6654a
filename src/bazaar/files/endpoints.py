"""`/api/files`: upload (multipart, streamed to disk), metadata, owner-only delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from bazaar.auth.dependencies import CurrentUser, OptionalUser
from bazaar.files import service
from bazaar.files.errors import (
    BadUpload,
    FileInUse,
    FileNotFound,
    FileTooLarge,
    FileTypeNotAllowed,
    InvalidImage,
)
from bazaar.files.schemas import FileOut, Purpose
from bazaar.files.sniff import judge
from bazaar.files.storage import get_storage
from bazaar.files.upload import receive
from bazaar.kit.deps import ReadSession, SettingsDep, Staged
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope, ok

router = APIRouter()

_MULTIPART: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=Envelope[FileOut],
    openapi_extra=_MULTIPART,
    responses=errors(BadUpload, FileTooLarge, FileTypeNotAllowed, InvalidImage),
)
async def upload(
    request: Request,
    user: CurrentUser,
    sessions: Staged,
    settings: SettingsDep,
    purpose: Annotated[Purpose, Query(description="What the file is for")] = "attachment",
) -> dict[str, Any]:
    """Upload one file (multipart part `file`), streamed to disk.

    The type is judged from the content, never the name or the part's `Content-Type`;
    `purpose` decides the size limit and the allowed types (avatar and blog: PNG, JPEG,
    GIF, WebP; attachment: those plus PDF and UTF-8 text; evidence: those plus MP4).
    Images must decode (their header gives sane dimensions). A file never attached to
    anything is deleted after a day."""
    await sessions.release()
    storage = get_storage(settings)
    temp = await storage.new_temp()
    try:
        got = await receive(request, temp, service.size_limit(settings, purpose))
        judged = judge(got.head, purpose, complete=got.size <= len(got.head))
        file_id = uuid.uuid4()
        key = service.storage_key(file_id, judged.content_type)
        await storage.put(temp, key)
    finally:
        temp.unlink(missing_ok=True)
    try:
        async with sessions.transaction() as session:
            row = await service.record(
                session,
                user,
                purpose=purpose,
                judged=judged,
                size=got.size,
                sha256=got.sha256,
                original_name=got.filename,
                file_id=file_id,
            )
            out = FileOut.of(row)
    except BaseException:
        await storage.delete(key)
        raise
    return ok(out)


@router.get("/{file_id}", response_model=Envelope[FileOut], responses=errors(FileNotFound))
async def get_file(
    file_id: uuid.UUID, viewer: OptionalUser, session: ReadSession
) -> dict[str, Any]:
    """A file's details, for whoever may read it (else 404)."""
    return ok(FileOut.of(await service.get_readable(session, viewer, file_id)))


@router.delete(
    "/{file_id}", response_model=Envelope[None], responses=errors(FileNotFound, FileInUse)
)
async def delete_file(
    file_id: uuid.UUID, user: CurrentUser, sessions: Staged, settings: SettingsDep
) -> dict[str, Any]:
    """Delete a file you uploaded; 409 while it is attached to something."""
    async with sessions.transaction() as session:
        key = await service.delete(session, user, file_id)
    await get_storage(settings).delete(key)
    return ok(None)
