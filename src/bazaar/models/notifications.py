"""In-app notifications: one row per notification a user can see in their list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, JSONType, utcnow


class Notification(Base):
    """Written by the `notification.deliver` job (notifications/jobs.py) when the user
    wants the type in-app; title and body are rendered in the user's language then."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user_newest", "user_id", "created_at"),
        # The unread count and the unread filter read only these.
        sa.Index(
            "ix_notifications_user_unread",
            "user_id",
            sqlite_where=sa.text("read_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    locale: Mapped[str] = mapped_column(sa.String(35))
    # The `notification.deliver` job that wrote it: a job run twice writes one row.
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, unique=True)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
