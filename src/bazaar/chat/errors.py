"""Chat errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import AppError, NotFound


class ConversationNotFound(NotFound):
    code = "CONVERSATION_NOT_FOUND"
    message = "Conversation not found"


class MessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"
    message = "Message not found in this conversation"


class ChatPartnerNotFound(NotFound):
    code = "CHAT_PARTNER_NOT_FOUND"
    message = (
        "No conversation can be opened here: the request is not yours or the seller "
        "made no offer on it"
    )


class AttachmentsUnavailable(AppError):
    status_code = 400
    code = "ATTACHMENTS_UNAVAILABLE"
    message = "Attachments cannot be checked on this server yet; send the message without them"
