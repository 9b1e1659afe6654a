"""Every chat query. What a user may see is decided in SQL: a conversation is readable
only through the viewer's own participant row (`readable_statement`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bazaar.models import Conversation, Message, Participant, PurchaseRequest, SellerOffer, User


def readable_statement(viewer: User) -> sa.Select[Conversation]:
    """The conversations `viewer` takes part in."""
    mine = sa.exists().where(
        Participant.conversation_id == Conversation.id, Participant.user_id == viewer.id
    )
    return sa.select(Conversation).where(mine)


def _as_uuid(ref: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


async def get_readable(
    session: AsyncSession, ref: str | uuid.UUID, viewer: User, *, lock: bool = False
) -> Conversation | None:
    conversation_id = _as_uuid(ref)
    if conversation_id is None:
        return None
    stmt = readable_statement(viewer).where(Conversation.id == conversation_id)
    if lock:
        stmt = stmt.with_for_update(of=Conversation).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation | None:
    stmt = (
        sa.select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_key(session: AsyncSession, key: str) -> Conversation | None:
    stmt = sa.select(Conversation).where(Conversation.key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def of_request(
    session: AsyncSession, request_id: uuid.UUID, seller_id: uuid.UUID | None
) -> list[Conversation]:
    """The request and dispute conversations of `request_id` (with one seller only when
    given)."""
    stmt = sa.select(Conversation).where(
        Conversation.kind.in_(("request", "dispute")), Conversation.request_id == request_id
    )
    if seller_id is not None:
        stmt = stmt.where(Conversation.seller_id == seller_id)
    return list((await session.execute(stmt.order_by(Conversation.created_at))).scalars())


async def is_participant(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        Participant.conversation_id == conversation_id, Participant.user_id == user_id
    )
    return (await session.execute(stmt)).first() is not None


async def participants(session: AsyncSession, conversation_id: uuid.UUID) -> list[Participant]:
    stmt = (
        sa.select(Participant)
        .where(Participant.conversation_id == conversation_id)
        .order_by(Participant.joined_at, Participant.user_id)
    )
    return list((await session.execute(stmt)).scalars())


async def participant(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> Participant | None:
    return await session.get(Participant, (conversation_id, user_id))


async def request_party(
    session: AsyncSession, request_ref: str | uuid.UUID
) -> PurchaseRequest | None:
    request_id = _as_uuid(request_ref)
    if request_id is None:
        stmt = sa.select(PurchaseRequest).where(PurchaseRequest.legacy_object_id == request_ref)
    else:
        stmt = sa.select(PurchaseRequest).where(PurchaseRequest.id == request_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_offered(session: AsyncSession, request_id: uuid.UUID, seller_id: uuid.UUID) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        SellerOffer.request_id == request_id, SellerOffer.seller_id == seller_id
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def _with_role(session: AsyncSession, roles: tuple[str, ...]) -> list[uuid.UUID]:
    """Users holding any of `roles` (roles is a JSON list: a text match narrows,
    `has_role` decides)."""
    text = sa.cast(User.roles, sa.String)
    stmt = sa.select(User).where(sa.or_(*(text.like(f'%"{role}"%') for role in roles)))
    users = (await session.execute(stmt.order_by(User.created_at, User.id))).scalars()
    return [user.id for user in users if any(user.has_role(role) for role in roles)]


async def admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    return await _with_role(session, ("admin",))


async def staff_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Who decides disputes: admins and resolvers."""
    return await _with_role(session, ("admin", "resolver"))


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int, offset: int
) -> list[tuple[Participant, Conversation, Message | None]]:
    """The user's conversations, latest activity first, each with its last message: one
    statement (participant row → conversation → last message), whatever the page size."""
    last = aliased(Message)
    stmt = (
        sa.select(Participant, Conversation, last)
        .join(Conversation, Conversation.id == Participant.conversation_id)
        .outerjoin(last, last.id == Conversation.last_message_id)
        .where(Participant.user_id == user_id)
        .order_by(Participant.last_message_at.desc(), Participant.conversation_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(p, c, m) for p, c, m in (await session.execute(stmt)).all()]


async def others_of(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Participant]]:
    """Every participant of these conversations, in one statement."""
    if not conversation_ids:
        return {}
    stmt = (
        sa.select(Participant)
        .where(Participant.conversation_id.in_(conversation_ids))
        .order_by(Participant.joined_at, Participant.user_id)
    )
    found: dict[uuid.UUID, list[Participant]] = {}
    for row in (await session.execute(stmt)).scalars():
        found.setdefault(row.conversation_id, []).append(row)
    return found


async def message_in(
    session: AsyncSession, conversation_id: uuid.UUID, ref: str | uuid.UUID
) -> Message | None:
    message_id = _as_uuid(ref)
    if message_id is None:
        return None
    stmt = sa.select(Message).where(
        Message.id == message_id, Message.conversation_id == conversation_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def messages(
    session: AsyncSession, conversation_id: uuid.UUID, *, before_seq: int | None, limit: int
) -> list[Message]:
    """Newest first, older than `before_seq` when given (the unique (conversation, seq)
    index serves both)."""
    stmt: sa.Select[Any] = sa.select(Message).where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq)
    stmt = stmt.order_by(Message.seq.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def touch_participants(
    session: AsyncSession, conversation_id: uuid.UUID, at: datetime
) -> None:
    await session.execute(
        sa.update(Participant)
        .where(Participant.conversation_id == conversation_id)
        .values(last_message_at=at)
    )
