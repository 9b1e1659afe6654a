"""Uploaded files: one row per stored blob (files/)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, utcnow

PURPOSES = ("avatar", "attachment", "evidence", "blog")
# What a file is attached to (files.service.attach); NULL while it is an orphan.
ATTACHED_KINDS = ("user", "request", "message", "evidence", "blog")


class StoredFile(Base):
    """An upload. The bytes live in the storage backend under `storage_key`; the type is
    the one judged from the content at upload, never the client's."""

    __tablename__ = "files"
    __table_args__ = (
        sa.Index("ix_files_attached", "attached_kind", "attached_id"),
        # The orphan sweep: unattached files by age.
        sa.Index(
            "ix_files_orphans",
            "created_at",
            sqlite_where=sa.text("attached_kind IS NULL"),
            postgresql_where=sa.text("attached_kind IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(16))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    original_name: Mapped[str] = mapped_column(sa.String(255), default="")
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    width: Mapped[int | None]
    height: Mapped[int | None]
    attached_kind: Mapped[str | None] = mapped_column(sa.String(16))
    attached_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
