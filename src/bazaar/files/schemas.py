"""File schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from bazaar.kit.schemas import Schema
from bazaar.models.files import StoredFile

Purpose = Literal["avatar", "attachment", "evidence", "blog"]


class FileOut(Schema):
    id: uuid.UUID
    purpose: str
    content_type: str
    size: int
    sha256: str
    original_name: str
    width: int | None
    height: int | None
    url: str
    attached: bool
    created_at: datetime

    @classmethod
    def of(cls, f: StoredFile) -> FileOut:
        return cls(
            id=f.id,
            purpose=f.purpose,
            content_type=f.content_type,
            size=f.size,
            sha256=f.sha256,
            original_name=f.original_name,
            width=f.width,
            height=f.height,
            url=f"/uploads/{f.id}",
            attached=f.attached_kind is not None,
            created_at=f.created_at,
        )
