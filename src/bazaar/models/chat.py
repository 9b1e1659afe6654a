"""Chat: conversations (one per request and seller, disputes, support), their
participants with read markers, and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, IdMixin, JSONType, utcnow

CONVERSATION_KINDS = ("request", "dispute", "support")
MESSAGE_KINDS = ("user", "system")
MESSAGE_MAX = 5000


class Conversation(IdMixin, Base):
    __tablename__ = "chat_conversations"
    # What makes a conversation one of a kind: `request:<request>:<seller>`,
    # `dispute:<request>`, `support:<user>` (a unique string, as NULLs never collide).
    key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("purchase_requests.id", ondelete="CASCADE"), index=True
    )
    seller_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None]
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    # Messages so far; the next message's `seq` is this + 1 (taken under the row's lock).
    message_count: Mapped[int] = mapped_column(default=0, server_default="0")


class Participant(Base):
    __tablename__ = "chat_participants"
    __table_args__ = (
        # "A user's latest conversations": the participant rows of one user, newest first.
        sa.Index("ix_chat_participants_user_last", "user_id", "last_message_at", "conversation_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("chat_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The conversation's creation, then each message's time: the user's list is one index
    # range (never NULL for rows written by chat.service).
    last_message_at: Mapped[datetime | None]
    last_read_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    last_read_at: Mapped[datetime | None]
    # `seq` of the last message read (own messages count as read): unread is the
    # conversation's message_count minus this, with no count query.
    last_read_seq: Mapped[int] = mapped_column(default=0, server_default="0")


class Message(IdMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        # "Messages before X": one conversation's messages by seq (the unique index).
        sa.UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_seq"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    # Position in the conversation (1, 2, ...): the cursor order, unique per conversation.
    seq: Mapped[int]
    sender_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(sa.String(16), default="user")
    text: Mapped[str] = mapped_column(sa.String(MESSAGE_MAX))
    attachments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
