"""chat: conversations, participants, messages, read markers

Revision ID: 0017_chat
Revises: 0016_notifications
Create Date: 2026-12-04 12:00:00

New tables only. A conversation is keyed by (kind, request, seller); a participant row
carries the user's read marker (`last_read_seq`) and a copy of the conversation's
`last_message_at` so "a user's latest conversations" is one index range; messages are
numbered per conversation (`seq`, unique), the cursor for "messages before X".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0017_chat"
down_revision: str | Sequence[str] | None = "0016_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, bazaar.kit.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("seller_id", sa.Uuid(), nullable=True),
        _ts("created_at"),
        _ts("last_message_at", nullable=True),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["purchase_requests.id"],
            name=op.f("fk_chat_conversations_request_id_purchase_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"],
            ["users.id"],
            name=op.f("fk_chat_conversations_seller_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint("key", name=op.f("uq_chat_conversations_key")),
    )
    op.create_index(op.f("ix_chat_conversations_request_id"), "chat_conversations", ["request_id"])
    op.create_table(
        "chat_participants",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _ts("joined_at"),
        _ts("last_message_at", nullable=True),
        sa.Column("last_read_message_id", sa.Uuid(), nullable=True),
        _ts("last_read_at", nullable=True),
        sa.Column("last_read_seq", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_participants_conversation_id_chat_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_chat_participants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_chat_participants")),
    )
    op.create_index(
        "ix_chat_participants_user_last",
        "chat_participants",
        ["user_id", "last_message_at", "conversation_id"],
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=5000), nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_messages_conversation_id_chat_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_chat_messages_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_seq"),
    )


def downgrade() -> None:
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_participants_user_last", table_name="chat_participants")
    op.drop_table("chat_participants")
    op.drop_index(op.f("ix_chat_conversations_request_id"), table_name="chat_conversations")
    op.drop_table("chat_conversations")
