"""Chat request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bazaar.kit.fields import Ref, VisibleText
from bazaar.kit.schemas import Input, Schema
from bazaar.models.chat import MESSAGE_MAX

# Attachments per message.
ATTACHMENTS_MAX = 10


class MessageIn(Input):
    text: VisibleText = Field(min_length=1, max_length=MESSAGE_MAX)
    attachments: list[Ref] = Field(
        default_factory=list,
        max_length=ATTACHMENTS_MAX,
        description="Ids of files you uploaded as `attachment` (/api/files)",
    )


class RequestMessageIn(MessageIn):
    seller_id: uuid.UUID | None = Field(
        None, description="The seller to talk to (the buyer must name one; a seller is itself)"
    )


class OpenRequestConversation(Input):
    seller_id: uuid.UUID | None = Field(
        None, description="The seller to talk to (the buyer must name one; a seller is itself)"
    )


class MarkRead(Input):
    message_id: Ref | None = Field(
        None, description="Read up to this message; the latest when left out"
    )


class MessageOut(Schema):
    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: uuid.UUID | None = Field(description="None for a system message")
    kind: Literal["user", "system"]
    text: str
    attachments: list[str]
    data: dict[str, Any]
    created_at: datetime


class ParticipantOut(Schema):
    user_id: uuid.UUID
    role: str


class ConversationOut(Schema):
    id: uuid.UUID
    kind: Literal["request", "dispute", "support"]
    request_id: uuid.UUID | None
    seller_id: uuid.UUID | None
    created_at: datetime
    last_message_at: datetime | None
    last_message: MessageOut | None
    unread_count: int
    last_read_message_id: uuid.UUID | None
    participants: list[ParticipantOut]


class ReadOut(Schema):
    conversation_id: uuid.UUID
    last_read_message_id: uuid.UUID | None
    last_read_at: datetime | None
    unread_count: int


class MessagesOut(Schema):
    items: list[MessageOut]
    next_before: uuid.UUID | None = Field(
        description="Pass as `before` for the next (older) page; null at the first message"
    )
