"""Chat: conversations of a request's buyer with one seller, support conversations with
the admins, messages, read markers; live delivery and notifications.

Entry points for other domains: `ensure_request_conversation` (the offers service, on a
seller's first offer), `post_system_message` and `request_changed` (the request state
machine), `is_participant` (the realtime layer's room checks).
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.chat import repository as repo
from bazaar.chat.errors import (
    AttachmentsUnavailable,
    ChatPartnerNotFound,
    ConversationNotFound,
    MessageNotFound,
)
from bazaar.kit.db import utcnow
from bazaar.kit.jobs import enqueue
from bazaar.models import Conversation, Message, Participant, PurchaseRequest, User
from bazaar.notifications.service import notify

REALTIME_JOB = "realtime.emit"
MESSAGE_RECEIVED = "message.received"
# The request status that opens a dispute conversation.
DISPUTED = "disputed"
# How much of a message a notification carries.
PREVIEW = 140


# -- live events -----------------------------------------------------------------------------


def conversation_room(conversation_id: uuid.UUID | str) -> str:
    return f"conversation:{conversation_id}"


def user_room(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


async def _emit(session: AsyncSession, room: str, event: str, data: dict[str, Any]) -> None:
    """Through `bazaar.realtime.events.emit` when the realtime layer is installed; before
    that, the same `realtime.emit` job it sends (payload `{room, event, data}`)."""
    try:
        events = importlib.import_module("bazaar.realtime.events")
    except ImportError:
        await enqueue(session, REALTIME_JOB, {"room": room, "event": event, "data": data})
        return
    await events.emit(session, room, event, data)


# -- reads -----------------------------------------------------------------------------------


async def is_participant(
    session: AsyncSession, user_id: uuid.UUID | str, conversation_id: uuid.UUID | str
) -> bool:
    """May `user_id` join `conversation:<conversation_id>`? (the realtime room check)"""
    try:
        uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
        cid = (
            conversation_id
            if isinstance(conversation_id, uuid.UUID)
            else uuid.UUID(str(conversation_id))
        )
    except ValueError:
        return False
    return await repo.is_participant(session, uid, cid)


async def get_readable(session: AsyncSession, ref: str, viewer: User) -> Conversation:
    conversation = await repo.get_readable(session, ref, viewer)
    if conversation is None:
        raise ConversationNotFound()
    return conversation


async def view(session: AsyncSession, conversation: Conversation, viewer: User) -> dict[str, Any]:
    """One conversation as the API shows it to `viewer` (three statements)."""
    people = await repo.participants(session, conversation.id)
    last = (
        await repo.message_in(session, conversation.id, conversation.last_message_id)
        if conversation.last_message_id
        else None
    )
    mine = next(p for p in people if p.user_id == viewer.id)
    return _conversation_out(conversation, mine, people, last)


def _conversation_out(
    conversation: Conversation,
    mine: Participant,
    people: list[Participant],
    last: Message | None,
) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "kind": conversation.kind,
        "request_id": conversation.request_id,
        "seller_id": conversation.seller_id,
        "created_at": conversation.created_at,
        "last_message_at": conversation.last_message_at,
        "last_message": message_out(last) if last is not None else None,
        "unread_count": max(conversation.message_count - mine.last_read_seq, 0),
        "last_read_message_id": mine.last_read_message_id,
        "participants": [{"user_id": p.user_id, "role": p.role} for p in people],
    }


def message_out(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "kind": message.kind,
        "text": message.text,
        "attachments": message.attachments or [],
        "data": message.data or {},
        "created_at": message.created_at,
    }


async def list_mine(
    session: AsyncSession, viewer: User, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The viewer's conversations, latest activity first, with unread counts and last
    messages: two statements whatever the page size."""
    rows = await repo.list_for_user(session, viewer.id, limit=limit, offset=offset)
    people = await repo.others_of(session, [c.id for _, c, _ in rows])
    return [_conversation_out(c, p, people.get(c.id, [p]), m) for p, c, m in rows]


async def list_messages(
    session: AsyncSession, ref: str, viewer: User, *, before: str | None, limit: int
) -> list[Message]:
    conversation = await get_readable(session, ref, viewer)
    before_seq = None
    if before is not None:
        anchor = await repo.message_in(session, conversation.id, before)
        if anchor is None:
            raise MessageNotFound()
        before_seq = anchor.seq
    return await repo.messages(session, conversation.id, before_seq=before_seq, limit=limit)


async def find_request_conversation(
    session: AsyncSession, request_ref: str, viewer: User, seller_id: uuid.UUID | None
) -> Conversation:
    """The conversation of a request with one seller, for its buyer or that seller."""
    request, seller = await _request_parties(session, request_ref, viewer, seller_id)
    conversation = await repo.by_key(session, _request_key(request.id, seller))
    if conversation is None or not await repo.is_participant(session, viewer.id, conversation.id):
        raise ConversationNotFound()
    return conversation


# -- conversations ---------------------------------------------------------------------------


def _request_key(request_id: uuid.UUID, seller_id: uuid.UUID) -> str:
    return f"request:{request_id}:{seller_id}"


async def _request_parties(
    session: AsyncSession, request_ref: str, viewer: User, seller_id: uuid.UUID | None
) -> tuple[PurchaseRequest, uuid.UUID]:
    """The request and the seller of the conversation `viewer` means: the buyer names the
    seller (one who made an offer on the request); a seller is always their own side.
    Anyone else, or a seller with no offer there, gets 404."""
    request = await repo.request_party(session, request_ref)
    if request is None:
        raise ChatPartnerNotFound()
    if viewer.id == request.buyer_id:
        if seller_id is None or seller_id == viewer.id:
            raise ChatPartnerNotFound("Name the seller (sellerId) to talk to about this request")
        seller = seller_id
    elif seller_id is None or seller_id == viewer.id:
        seller = viewer.id
    else:
        raise ChatPartnerNotFound()
    if not await repo.has_offered(session, request.id, seller):
        raise ChatPartnerNotFound()
    return request, seller


async def _create(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    request_id: uuid.UUID | None,
    seller_id: uuid.UUID | None,
    members: list[tuple[uuid.UUID, str]],
) -> Conversation:
    """Get or create the conversation `key`. A concurrent creator of the same key loses
    on the unique key inside a savepoint and reads the winner's row."""
    found = await repo.by_key(session, key)
    if found is not None:
        return found
    now = utcnow()
    conversation = Conversation(
        id=uuid.uuid4(),
        key=key,
        kind=kind,
        request_id=request_id,
        seller_id=seller_id,
        created_at=now,
        message_count=0,
    )
    try:
        async with session.begin_nested():
            session.add(conversation)
            await session.flush()
            for user_id, role in dict(members).items():
                session.add(
                    Participant(
                        conversation_id=conversation.id,
                        user_id=user_id,
                        role=role,
                        joined_at=now,
                        last_message_at=now,
                        last_read_seq=0,
                    )
                )
            await session.flush()
    except sa.exc.IntegrityError:
        found = await repo.by_key(session, key)
        if found is None:
            raise
        return found
    return conversation


async def ensure_request_conversation(
    session: AsyncSession, request_id: uuid.UUID, buyer_id: uuid.UUID, seller_id: uuid.UUID
) -> Conversation:
    """The conversation of a request's buyer with one seller, created if missing (called
    by the offers service on a seller's first offer, and on a first message)."""
    return await _create(
        session,
        key=_request_key(request_id, seller_id),
        kind="request",
        request_id=request_id,
        seller_id=seller_id,
        members=[(buyer_id, "buyer"), (seller_id, "seller")],
    )


async def open_request_conversation(
    session: AsyncSession, request_ref: str, viewer: User, seller_id: uuid.UUID | None
) -> Conversation:
    request, seller = await _request_parties(session, request_ref, viewer, seller_id)
    return await ensure_request_conversation(session, request.id, request.buyer_id, seller)


async def open_support(session: AsyncSession, viewer: User) -> Conversation:
    """The viewer's support conversation with the admins (every admin at its creation)."""
    admins = [a for a in await repo.admin_ids(session) if a != viewer.id]
    members = [(viewer.id, "user"), *((admin, "admin") for admin in admins)]
    return await _create(
        session,
        key=f"support:{viewer.id}",
        kind="support",
        request_id=None,
        seller_id=None,
        members=members,
    )


# -- messages --------------------------------------------------------------------------------


def _files() -> Any:
    """FILES' service when that package is installed (`check_refs`, `attach`)."""
    try:
        return importlib.import_module("bazaar.files.service")
    except ImportError:
        return None


async def _check_attachments(
    session: AsyncSession, viewer: User, ids: list[str], conversation_id: uuid.UUID
) -> None:
    """Each id must be a file the sender uploaded as an `attachment` (FILES'
    `check_refs`: 404 FILE_NOT_FOUND / 400 FILE_REF_INVALID); the files are then attached
    to the conversation, so its participants may read them. Without the files package,
    none are accepted (400 ATTACHMENTS_UNAVAILABLE)."""
    if not ids:
        return
    files = _files()
    if files is None or not hasattr(files, "check_refs"):
        raise AttachmentsUnavailable()
    await files.check_refs(session, viewer, ids, "attachment")
    if hasattr(files, "attach"):
        await files.attach(session, ids, "conversation", conversation_id)


async def _append(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    *,
    sender: User | None,
    text: str,
    attachments: list[str],
    data: dict[str, Any],
    kind: str,
) -> Message:
    """Number the message under the conversation's lock, move the read markers and the
    participants' list order, and queue its delivery."""
    conversation = await repo.lock(session, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    now = utcnow()
    seq = conversation.message_count + 1
    message = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        seq=seq,
        sender_id=sender.id if sender else None,
        kind=kind,
        text=text,
        attachments=attachments,
        data=data,
        created_at=now,
    )
    session.add(message)
    conversation.message_count = seq
    conversation.last_message_at = now
    conversation.last_message_id = message.id
    await session.flush()
    await repo.touch_participants(session, conversation.id, now)
    people = await repo.participants(session, conversation.id)
    if sender is not None:
        mine = next((p for p in people if p.user_id == sender.id), None)
        if mine is not None:
            mine.last_read_seq = seq
            mine.last_read_message_id = message.id
            mine.last_read_at = now
    payload = {"conversationId": str(conversation.id), **_json(message_out(message))}
    await _emit(session, conversation_room(conversation.id), "message:new", payload)
    for person in people:
        await _emit(session, user_room(person.user_id), "message:new", payload)
        if kind == "user" and sender is not None and person.user_id != sender.id:
            await notify(
                session,
                person.user_id,
                MESSAGE_RECEIVED,
                {
                    "conversationId": str(conversation.id),
                    "messageId": str(message.id),
                    "senderId": str(sender.id),
                    "requestId": str(conversation.request_id) if conversation.request_id else None,
                    "preview": text[:PREVIEW],
                },
            )
    return message


def _json(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        head, *rest = key.split("_")
        name = head + "".join(part.title() for part in rest)
        if isinstance(item, uuid.UUID):
            item = str(item)
        elif hasattr(item, "isoformat"):
            item = item.isoformat()
        out[name] = item
    return out


async def send(
    session: AsyncSession,
    ref: str,
    viewer: User,
    *,
    text: str,
    attachments: list[str],
) -> Message:
    conversation = await get_readable(session, ref, viewer)
    await _check_attachments(session, viewer, attachments, conversation.id)
    return await _append(
        session,
        conversation.id,
        sender=viewer,
        text=text,
        attachments=attachments,
        data={},
        kind="user",
    )


async def send_on_request(
    session: AsyncSession,
    request_ref: str,
    viewer: User,
    seller_id: uuid.UUID | None,
    *,
    text: str,
    attachments: list[str],
) -> Message:
    """A message to the request's conversation with one seller, opened by the first one."""
    conversation = await open_request_conversation(session, request_ref, viewer, seller_id)
    await _check_attachments(session, viewer, attachments, conversation.id)
    return await _append(
        session,
        conversation.id,
        sender=viewer,
        text=text,
        attachments=attachments,
        data={},
        kind="user",
    )


async def post_system_message(
    session: AsyncSession, conversation_id: uuid.UUID, text: str, data: dict[str, Any]
) -> Message:
    """A message from no one (kind `system`), delivered like the others, notifying no one."""
    return await _append(
        session, conversation_id, sender=None, text=text, attachments=[], data=data, kind="system"
    )


async def open_dispute_conversation(
    session: AsyncSession, request: PurchaseRequest, seller_id: uuid.UUID
) -> Conversation:
    """The request's dispute conversation: its buyer, the seller, and the staff who decide
    disputes (admins and resolvers at its creation)."""
    staff = await repo.staff_ids(session)
    members = [
        (request.buyer_id, "buyer"),
        (seller_id, "seller"),
        *((user_id, "staff") for user_id in staff if user_id not in (request.buyer_id, seller_id)),
    ]
    return await _create(
        session,
        key=f"dispute:{request.id}",
        kind="dispute",
        request_id=request.id,
        seller_id=seller_id,
        members=members,
    )


async def request_changed(
    session: AsyncSession,
    request: PurchaseRequest,
    from_status: str,
    to_status: str,
    seller_id: uuid.UUID | None,
) -> None:
    """A system message in the request's conversations that exist (the accepted seller's
    only once a seller is chosen); none is created for it, but a move to `disputed` opens
    the dispute conversation (buyer, seller, staff), which then gets the lines too."""
    data = {
        "type": "request.status",
        "requestId": str(request.id),
        "from": from_status,
        "to": to_status,
    }
    text = (
        f"The request is now {to_status.replace('_', ' ')} (was {from_status.replace('_', ' ')})."
    )
    if to_status == DISPUTED and seller_id is not None:
        await open_dispute_conversation(session, request, seller_id)
    for conversation in await repo.of_request(session, request.id, seller_id):
        await post_system_message(session, conversation.id, text, data)


async def mark_read(
    session: AsyncSession, ref: str, viewer: User, message_ref: str | None
) -> Participant:
    """Move the viewer's read marker up to a message (the latest when none is named);
    it never moves back. Tells the conversation's room (`conversation:read`)."""
    conversation = await get_readable(session, ref, viewer)
    if message_ref is not None:
        target = await repo.message_in(session, conversation.id, message_ref)
        if target is None:
            raise MessageNotFound()
    elif conversation.last_message_id is not None:
        target = await repo.message_in(session, conversation.id, conversation.last_message_id)
    else:
        target = None
    mine = await repo.participant(session, conversation.id, viewer.id)
    if mine is None:  # pragma: no cover - the scoped read above found the row
        raise ConversationNotFound()
    if target is not None and target.seq > mine.last_read_seq:
        mine.last_read_seq = target.seq
        mine.last_read_message_id = target.id
        mine.last_read_at = utcnow()
        await session.flush()
        await _emit(
            session,
            conversation_room(conversation.id),
            "conversation:read",
            {
                "conversationId": str(conversation.id),
                "userId": str(viewer.id),
                "messageId": str(target.id),
                "readAt": mine.last_read_at.isoformat(),
            },
        )
    return mine
