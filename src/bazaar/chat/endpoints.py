"""`/api/chat`: a request's buyer and one seller, support with the admins; messages and
read markers. Only participants see a conversation (others get 404)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from bazaar.chat import service
from bazaar.chat.errors import (
    AttachmentsUnavailable,
    ChatPartnerNotFound,
    ConversationNotFound,
    MessageNotFound,
)
from bazaar.chat.schemas import (
    ConversationOut,
    MarkRead,
    MessageIn,
    MessageOut,
    MessagesOut,
    OpenRequestConversation,
    ReadOut,
    RequestMessageIn,
)
from bazaar.files.errors import FileNotFound, FileRefInvalid
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.fields import Ref
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope, ok
from bazaar.marketplace.auth import IdempotencyKey, SignedIn

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/conversations", response_model=Envelope[list[ConversationOut]])
async def list_conversations(
    user: SignedIn,
    session: ReadSession,
    limit: Limit = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Envelope[list[ConversationOut]]:
    """Your conversations, latest activity first, each with its last message and your
    unread count (two statements, whatever the page size)."""
    rows = await service.list_mine(session, user, limit=limit, offset=offset)
    return Envelope(data=[ConversationOut.model_validate(row) for row in rows])


@router.post("/support", response_model=Envelope[ConversationOut], responses=errors())
async def open_support(user: SignedIn, session: WriteSession) -> Envelope[ConversationOut]:
    """Your support conversation with the admins, created on first use."""
    conversation = await service.open_support(session, user)
    return Envelope(
        data=ConversationOut.model_validate(await service.view(session, conversation, user))
    )


@router.get(
    "/requests/{request_id}",
    response_model=Envelope[ConversationOut],
    responses=errors(ChatPartnerNotFound, ConversationNotFound),
)
async def get_request_conversation(
    request_id: Ref,
    user: SignedIn,
    session: ReadSession,
    seller_id: Annotated[uuid.UUID | None, Query(alias="sellerId")] = None,
) -> Envelope[ConversationOut]:
    """The conversation about a request with one seller: the buyer names the seller
    (`sellerId`), a seller gets their own. 404 when it was not opened yet or is not yours."""
    conversation = await service.find_request_conversation(session, request_id, user, seller_id)
    return Envelope(
        data=ConversationOut.model_validate(await service.view(session, conversation, user))
    )


@router.post(
    "/requests/{request_id}",
    response_model=Envelope[ConversationOut],
    responses=errors(ChatPartnerNotFound),
)
async def open_request_conversation(
    request_id: Ref,
    user: SignedIn,
    session: WriteSession,
    body: OpenRequestConversation | None = None,
) -> Envelope[ConversationOut]:
    """Open (or get) the conversation about a request with one seller who made an offer
    on it: the request's buyer (naming `sellerId`) or that seller only; others get 404."""
    seller_id = body.seller_id if body else None
    conversation = await service.open_request_conversation(session, request_id, user, seller_id)
    return Envelope(
        data=ConversationOut.model_validate(await service.view(session, conversation, user))
    )


@router.post(
    "/requests/{request_id}/messages",
    status_code=201,
    response_model=Envelope[MessageOut],
    responses=errors(ChatPartnerNotFound, AttachmentsUnavailable, FileNotFound, FileRefInvalid),
)
async def send_on_request(
    request_id: Ref,
    body: RequestMessageIn,
    user: SignedIn,
    session: WriteSession,
    idem: IdempotencyKey,
) -> JSONResponse:
    """Send a message about a request to one seller (or, as that seller, to the buyer);
    the first message opens the conversation. `Idempotency-Key` makes retries safe."""
    if idem.replay:
        return idem.replay
    message = await service.send_on_request(
        session, request_id, user, body.seller_id, text=body.text, attachments=body.attachments
    )
    out = MessageOut.model_validate(service.message_out(message))
    return await idem.save(session, ok(out.model_dump(mode="json", by_alias=True)), 201)


@router.get(
    "/conversations/{conversation_id}",
    response_model=Envelope[ConversationOut],
    responses=errors(ConversationNotFound),
)
async def get_conversation(
    conversation_id: Ref, user: SignedIn, session: ReadSession
) -> Envelope[ConversationOut]:
    """One of your conversations."""
    conversation = await service.get_readable(session, conversation_id, user)
    return Envelope(
        data=ConversationOut.model_validate(await service.view(session, conversation, user))
    )


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=Envelope[MessagesOut],
    responses=errors(ConversationNotFound, MessageNotFound),
)
async def list_messages(
    conversation_id: Ref,
    user: SignedIn,
    session: ReadSession,
    before: Annotated[Ref | None, Query(description="A message id: older messages only")] = None,
    limit: Limit = 50,
) -> Envelope[MessagesOut]:
    """Messages newest first, `limit` at a time; pass `nextBefore` as `before` for older."""
    found = await service.list_messages(session, conversation_id, user, before=before, limit=limit)
    items = [MessageOut.model_validate(service.message_out(m)) for m in found]
    next_before = found[-1].id if len(found) == limit and found[-1].seq > 1 else None
    return Envelope(data=MessagesOut(items=items, next_before=next_before))


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=Envelope[MessageOut],
    responses=errors(ConversationNotFound, AttachmentsUnavailable, FileNotFound, FileRefInvalid),
)
async def send_message(
    conversation_id: Ref,
    body: MessageIn,
    user: SignedIn,
    session: WriteSession,
    idem: IdempotencyKey,
) -> JSONResponse:
    """Send a message: delivered live as `message:new` to the conversation's room and each
    participant's own room, and notified (`message.received`) to the others.
    `Idempotency-Key` makes retries safe (the same key and body replay the first answer)."""
    if idem.replay:
        return idem.replay
    message = await service.send(
        session, conversation_id, user, text=body.text, attachments=body.attachments
    )
    out = MessageOut.model_validate(service.message_out(message))
    return await idem.save(session, ok(out.model_dump(mode="json", by_alias=True)), 201)


@router.post(
    "/conversations/{conversation_id}/read",
    response_model=Envelope[ReadOut],
    responses=errors(ConversationNotFound, MessageNotFound),
)
async def mark_read(
    conversation_id: Ref, user: SignedIn, session: WriteSession, body: MarkRead | None = None
) -> Envelope[ReadOut]:
    """Mark the conversation read up to a message (the latest by default); the marker never
    moves back. Tells the conversation's room (`conversation:read`)."""
    mine = await service.mark_read(
        session, conversation_id, user, body.message_id if body else None
    )
    conversation = await service.get_readable(session, conversation_id, user)
    out = ReadOut(
        conversation_id=conversation.id,
        last_read_message_id=mine.last_read_message_id,
        last_read_at=mine.last_read_at,
        unread_count=max(conversation.message_count - mine.last_read_seq, 0),
    )
    return Envelope(data=out)
