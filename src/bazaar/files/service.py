"""Files: storing a checked upload, who may read it, references from other domains.

Read access: the owner; everyone for avatars and blog images; for a file attached to an
object (a request's attachments or delivery files, a chat conversation, a dispute's
evidence), whoever may read that object — asked of that domain's service. Anyone else gets
404, so a file's existence is not revealed."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.files import repository as repo
from bazaar.files.errors import FileInUse, FileNotFound, FileRefInvalid
from bazaar.files.sniff import EXTENSIONS, Judged
from bazaar.kit.errors import NotFound
from bazaar.models import StoredFile, User

PUBLIC_PURPOSES = frozenset({"avatar", "blog"})


def size_limit(settings: Settings, purpose: str) -> int:
    limit: int = getattr(settings, f"upload_max_{purpose}_bytes")
    return limit


async def record(
    session: AsyncSession,
    owner: User,
    *,
    purpose: str,
    judged: Judged,
    size: int,
    sha256: str,
    original_name: str,
    file_id: uuid.UUID,
) -> StoredFile:
    """The row for an upload whose bytes are already stored under its key."""
    row = StoredFile(
        id=file_id,
        owner_id=owner.id,
        purpose=purpose,
        content_type=judged.content_type,
        size=size,
        sha256=sha256,
        original_name=original_name,
        storage_key=storage_key(file_id, judged.content_type),
        width=judged.width,
        height=judged.height,
    )
    session.add(row)
    await session.flush()
    return row


def storage_key(file_id: uuid.UUID, content_type: str) -> str:
    return f"{file_id.hex}.{EXTENSIONS.get(content_type, 'bin')}"


async def can_read(session: AsyncSession, viewer: User | None, file: StoredFile) -> bool:
    if viewer is not None and file.owner_id == viewer.id:
        return True
    if file.purpose in PUBLIC_PURPOSES:
        return True
    if viewer is None or file.attached_kind is None or file.attached_id is None:
        return False
    if viewer.has_role("admin"):
        return True
    if file.attached_kind == "request":
        from bazaar.marketplace.requests import service as requests

        try:
            await requests.get_readable(session, file.attached_id, viewer)
        except NotFound:
            return False
        return True
    if file.attached_kind == "conversation":
        try:
            chat = importlib.import_module("bazaar.chat.service")
        except ImportError:
            return False
        allowed: bool = await chat.is_participant(session, viewer.id, file.attached_id)
        return allowed
    return False


async def get_readable(
    session: AsyncSession, viewer: User | None, file_id: uuid.UUID
) -> StoredFile:
    file = await repo.get(session, file_id)
    if file is None or not await can_read(session, viewer, file):
        raise FileNotFound()
    return file


async def get_own(session: AsyncSession, owner: User, file_id: uuid.UUID) -> StoredFile:
    file = await repo.get(session, file_id)
    if file is None or file.owner_id != owner.id:
        raise FileNotFound()
    return file


async def delete(session: AsyncSession, owner: User, file_id: uuid.UUID) -> str:
    """Delete the owner's unattached file's row; return its storage key (the caller removes
    the bytes after the commit)."""
    file = await get_own(session, owner, file_id)
    if file.attached_kind is not None:
        raise FileInUse()
    key = file.storage_key
    await session.delete(file)
    await session.flush()
    return key


def _parse(ids: Iterable[str | uuid.UUID]) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for raw in ids:
        if isinstance(raw, uuid.UUID):
            out.append(raw)
            continue
        try:
            out.append(uuid.UUID(str(raw)))
        except ValueError:
            raise FileRefInvalid(
                f"`{raw}` is not a file id", details={"invalid": [str(raw)]}
            ) from None
    return out


async def check_refs(
    session: AsyncSession,
    viewer: User,
    ids: Iterable[str | uuid.UUID] | None,
    purpose: str | Sequence[str],
) -> list[StoredFile]:
    """The files `ids` name, each one `viewer` uploaded with `purpose` (one of them, if a
    sequence); a missing or foreign id is 404 FILE_NOT_FOUND, a wrong purpose 400
    FILE_REF_INVALID."""
    wanted = _parse(ids or [])
    if not wanted:
        return []
    purposes = {purpose} if isinstance(purpose, str) else set(purpose)
    found = {f.id: f for f in await repo.owned(session, viewer, list(set(wanted)))}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise FileNotFound("No file you uploaded has this id", details={"missing": missing})
    wrong = [str(f.id) for f in found.values() if f.purpose not in purposes]
    if wrong:
        raise FileRefInvalid(
            f"These files were not uploaded as {' or '.join(sorted(purposes))}",
            details={"invalid": wrong},
        )
    return [found[i] for i in wanted]


async def attach(
    session: AsyncSession, ids: Iterable[str | uuid.UUID] | None, kind: str, object_id: uuid.UUID
) -> None:
    """Mark files (already passed through `check_refs`) as attached to an object, so they
    are readable by who may read it and survive the orphan sweep. A file keeps its first
    attachment."""
    await repo.attach(session, _parse(ids or []), kind, object_id)


async def sweep_orphans(
    session: AsyncSession, before: datetime, limit: int, *, lock: bool
) -> list[str]:
    """Delete up to `limit` never-attached files created before `before`; their keys."""
    rows = await repo.orphans(session, before, limit, lock=lock)
    if rows:
        await repo.delete(session, [r[0] for r in rows])
    return [r[1] for r in rows]
