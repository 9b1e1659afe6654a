"""Chat over HTTP: request conversations (opened by the first offer or message), support,
messages with cursor pages, read markers and unread counts, live events and
notifications queued, system lines on request state changes, and who may see what."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.chat import service as chat
from bazaar.kit.db import Database
from bazaar.marketplace.requests import service as requests
from bazaar.models import Conversation, Job, Message, User
from tests.fixtures.sql import count_statements
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import (
    accept,
    accepted_deal,
    fund,
    notified,
    post_offer,
    post_request,
)

CHAT = "/api/chat"


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def offered(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> tuple[dict[str, Any], dict[str, Any]]:
    request = await post_request(client, buyer)
    offer = await post_offer(client, seller, request["id"])
    return request, offer


async def conversation_of(
    client: httpx.AsyncClient, who: Account, request_id: str, seller: Account | None = None
) -> httpx.Response:
    params = {"sellerId": str(seller.id)} if seller else None
    return await client.get(f"{CHAT}/requests/{request_id}", params=params, headers=who.headers)


async def say(
    client: httpx.AsyncClient, who: Account, conversation_id: str, text: str, **headers: str
) -> dict[str, Any]:
    r = await client.post(
        f"{CHAT}/conversations/{conversation_id}/messages",
        json={"text": text},
        headers={**who.headers, **headers},
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def jobs(db: Database, kind: str) -> list[dict[str, Any]]:
    async with db.session(False) as session:
        stmt = sa.select(Job.payload).where(Job.kind == kind).order_by(Job.created_at, Job.id)
        return list((await session.execute(stmt)).scalars())


# -- opening ---------------------------------------------------------------------------------


async def test_the_first_offer_opens_the_conversation_for_buyer_and_seller(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    as_seller = await conversation_of(client, seller, request["id"])
    assert as_seller.status_code == 200, as_seller.text
    conversation = as_seller.json()["data"]
    assert conversation["kind"] == "request" and conversation["requestId"] == request["id"]
    assert conversation["sellerId"] == str(seller.id)
    roles = {p["userId"]: p["role"] for p in conversation["participants"]}
    assert roles == {str(buyer.id): "buyer", str(seller.id): "seller"}
    assert conversation["unreadCount"] == 0 and conversation["lastMessage"] is None
    as_buyer = await conversation_of(client, buyer, request["id"], seller)
    assert as_buyer.json()["data"]["id"] == conversation["id"]
    # A second offer (after a withdraw) does not open another one.
    await with_no_duplicate(client, buyer, seller, request["id"], conversation["id"])


async def with_no_duplicate(
    client: httpx.AsyncClient, buyer: Account, seller: Account, request_id: str, first: str
) -> None:
    r = await client.post(
        f"{CHAT}/requests/{request_id}", json={"sellerId": str(seller.id)}, headers=buyer.headers
    )
    assert r.status_code == 200 and r.json()["data"]["id"] == first


async def test_only_the_buyer_and_that_seller_may_open_or_see_it(
    client: httpx.AsyncClient, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request, _ = await offered(client, buyer, seller)
    other_seller = await make_user(["seller"])
    stranger = await make_user(["buyer"])
    # A seller who made no offer, a stranger, a buyer naming a seller with no offer: 404.
    for who, seller_id in ((other_seller, None), (stranger, None), (stranger, seller.id)):
        body = {"sellerId": str(seller_id)} if seller_id else {}
        r = await client.post(f"{CHAT}/requests/{request['id']}", json=body, headers=who.headers)
        assert r.status_code == 404 and code(r) == "CHAT_PARTNER_NOT_FOUND", r.text
    r = await client.post(
        f"{CHAT}/requests/{request['id']}",
        json={"sellerId": str(other_seller.id)},
        headers=buyer.headers,
    )
    assert r.status_code == 404
    # The buyer must name the seller.
    r = await client.post(f"{CHAT}/requests/{request['id']}", json={}, headers=buyer.headers)
    assert r.status_code == 404
    conversation = (await conversation_of(client, seller, request["id"])).json()["data"]
    for who in (other_seller, stranger):
        r = await client.get(f"{CHAT}/conversations/{conversation['id']}", headers=who.headers)
        assert r.status_code == 404 and code(r) == "CONVERSATION_NOT_FOUND"
        r = await client.get(
            f"{CHAT}/conversations/{conversation['id']}/messages", headers=who.headers
        )
        assert r.status_code == 404
        r = await client.post(
            f"{CHAT}/conversations/{conversation['id']}/messages",
            json={"text": "let me in"},
            headers=who.headers,
        )
        assert r.status_code == 404
        r = await client.post(
            f"{CHAT}/conversations/{conversation['id']}/read", headers=who.headers
        )
        assert r.status_code == 404
    r = await client.get(f"{CHAT}/conversations/{conversation['id']}")
    assert r.status_code == 401


async def test_a_first_message_on_a_request_opens_the_conversation(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    async with db.session() as session:  # as before the offers service opened it
        await session.execute(sa.delete(Conversation))
        await session.commit()
    r = await client.post(
        f"{CHAT}/requests/{request['id']}/messages",
        json={"text": "Is it new?", "sellerId": str(seller.id)},
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    message = r.json()["data"]
    assert message["senderId"] == str(buyer.id) and message["kind"] == "user"
    conversation = (await conversation_of(client, seller, request["id"])).json()["data"]
    assert conversation["id"] == message["conversationId"]
    assert conversation["unreadCount"] == 1
    assert conversation["lastMessage"]["text"] == "Is it new?"


# -- messages --------------------------------------------------------------------------------


async def test_messages_are_delivered_live_and_notified_to_the_others(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    conversation = (await conversation_of(client, seller, request["id"])).json()["data"]
    before = len(await jobs(db, "realtime.emit"))
    message = await say(client, seller, conversation["id"], "Hello, it ships tomorrow")
    emitted = (await jobs(db, "realtime.emit"))[before:]
    rooms = {e["room"] for e in emitted if e["event"] == "message:new"}
    assert rooms == {
        f"conversation:{conversation['id']}",
        f"user:{buyer.id}",
        f"user:{seller.id}",
    }
    assert all(e["data"]["id"] == message["id"] for e in emitted)
    assert emitted[0]["data"]["text"] == "Hello, it ships tomorrow"
    [told] = await notified(db, buyer, "message.received")
    assert told["messageId"] == message["id"] and told["senderId"] == str(seller.id)
    assert told["preview"] == "Hello, it ships tomorrow"
    assert await notified(db, seller, "message.received") == []


async def test_text_is_checked_and_attachments_need_the_files_service(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    url = f"{CHAT}/conversations/{cid}/messages"
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 5001}, {"text": "a\x00b"}, {}):
        r = await client.post(url, json=body, headers=buyer.headers)
        assert r.status_code == 400 and code(r) == "VALIDATION_FAILED", (body, r.text)
    r = await client.post(url, json={"text": "x" * 5000}, headers=buyer.headers)
    assert r.status_code == 201
    r = await client.post(
        url, json={"text": "see file", "attachments": [str(uuid.uuid4())]}, headers=buyer.headers
    )
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"]["code"] != "INTERNAL_ERROR"


async def test_an_idempotency_key_sends_a_message_once(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    first = await say(client, buyer, cid, "once", **{"Idempotency-Key": "chat-key-1"})
    r = await client.post(
        f"{CHAT}/conversations/{cid}/messages",
        json={"text": "once"},
        headers={**buyer.headers, "Idempotency-Key": "chat-key-1"},
    )
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") == "true"
    assert r.json()["data"]["id"] == first["id"]
    async with db.session(False) as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == 1


async def test_messages_page_backwards_by_cursor(
    client: httpx.AsyncClient, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    sent = [await say(client, buyer if i % 2 else seller, cid, f"m{i}") for i in range(7)]
    url = f"{CHAT}/conversations/{cid}/messages"
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        r = await client.get(url, params=params, headers=buyer.headers)
        assert r.status_code == 200, r.text
        page = r.json()["data"]
        seen += [m["text"] for m in page["items"]]
        pages += 1
        if page["nextBefore"] is None:
            break
        params = {"limit": 3, "before": page["nextBefore"]}
    assert seen == [m["text"] for m in reversed(sent)] and pages == 3
    r = await client.get(url, params={"before": str(uuid.uuid4())}, headers=buyer.headers)
    assert r.status_code == 404 and code(r) == "MESSAGE_NOT_FOUND"
    r = await client.get(url, params={"before": "not-a-uuid"}, headers=buyer.headers)
    assert r.status_code == 404


# -- unread and read -------------------------------------------------------------------------


async def test_unread_counts_and_mark_read(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    first = await say(client, seller, cid, "one")
    await say(client, seller, cid, "two")
    await say(client, buyer, cid, "mine do not count")  # also reads what came before
    await say(client, seller, cid, "three")

    async def unread(who: Account) -> int:
        r = await client.get(f"{CHAT}/conversations/{cid}", headers=who.headers)
        return int(r.json()["data"]["unreadCount"])

    # Sending reads everything before it: the buyer has "three" unread, the seller nothing.
    assert (await unread(buyer), await unread(seller)) == (1, 0)
    r = await client.post(f"{CHAT}/conversations/{cid}/read", headers=buyer.headers)
    assert r.status_code == 200 and r.json()["data"]["unreadCount"] == 0
    read_events = [e for e in await jobs(db, "realtime.emit") if e["event"] == "conversation:read"]
    assert [(e["room"], e["data"]["userId"]) for e in read_events] == [
        (f"conversation:{cid}", str(buyer.id))
    ]
    # The marker never moves back.
    r = await client.post(
        f"{CHAT}/conversations/{cid}/read", json={"messageId": first["id"]}, headers=buyer.headers
    )
    assert r.status_code == 200 and r.json()["data"]["unreadCount"] == 0
    r = await client.post(
        f"{CHAT}/conversations/{cid}/read",
        json={"messageId": str(uuid.uuid4())},
        headers=seller.headers,
    )
    assert r.status_code == 404 and code(r) == "MESSAGE_NOT_FOUND"


async def test_my_conversations_in_a_bounded_number_of_statements(
    client: httpx.AsyncClient, db: Database, buyer: Account, make_user: MakeUser
) -> None:
    async def listed() -> tuple[list[dict[str, Any]], list[str]]:
        with count_statements(db) as statements:
            r = await client.get(f"{CHAT}/conversations", headers=buyer.headers)
        assert r.status_code == 200, r.text
        # Auth may read the account; the listing itself is two statements.
        chat_sql = [s for s in statements if "chat_" in s]
        assert len(chat_sql) == 2, chat_sql
        return r.json()["data"], chat_sql

    sellers = [await make_user(["seller"]) for _ in range(4)]
    ids = []
    for s in sellers[:2]:
        request, _ = await offered(client, buyer, s)
        ids.append((await conversation_of(client, s, request["id"])).json()["data"]["id"])
    _, few = await listed()
    for s in sellers[2:]:
        request, _ = await offered(client, buyer, s)
        ids.append((await conversation_of(client, s, request["id"])).json()["data"]["id"])
    await say(client, sellers[0], ids[0], "latest")
    items, many = await listed()
    assert len(items) == 4 and len(few) == len(many) == 2  # for 2 rows and for 4
    assert [c["id"] for c in items][0] == ids[0]
    assert set(c["id"] for c in items) == set(ids)
    top = items[0]
    assert top["unreadCount"] == 1 and top["lastMessage"]["text"] == "latest"
    assert all(c["unreadCount"] == 0 for c in items[1:])


# -- support and system messages -------------------------------------------------------------


async def test_support_conversation_with_the_admins(
    client: httpx.AsyncClient, db: Database, buyer: Account, admin: Account, make_user: MakeUser
) -> None:
    r = await client.post(f"{CHAT}/support", headers=buyer.headers)
    assert r.status_code == 200, r.text
    conversation = r.json()["data"]
    assert conversation["kind"] == "support"
    assert {p["userId"]: p["role"] for p in conversation["participants"]} == {
        str(buyer.id): "user",
        str(admin.id): "admin",
    }
    again = await client.post(f"{CHAT}/support", headers=buyer.headers)
    assert again.json()["data"]["id"] == conversation["id"]
    await say(client, buyer, conversation["id"], "My payment is stuck")
    [told] = await notified(db, admin, "message.received")
    assert told["conversationId"] == conversation["id"]
    reply = await say(client, admin, conversation["id"], "Looking into it")
    assert reply["senderId"] == str(admin.id)
    other = await make_user(["buyer"])
    r = await client.get(f"{CHAT}/conversations/{conversation['id']}", headers=other.headers)
    assert r.status_code == 404


async def test_request_changes_post_system_lines_in_existing_conversations(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, make_user: MakeUser
) -> None:
    request, offer = await offered(client, buyer, seller)
    loser = await make_user(["seller"])
    await post_offer(client, loser, request["id"])
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    lost = (await conversation_of(client, loser, request["id"])).json()["data"]["id"]
    r = await accept(client, buyer, offer["id"])
    assert r.status_code == 200, r.text
    r = await client.get(f"{CHAT}/conversations/{cid}/messages", headers=seller.headers)
    [line] = r.json()["data"]["items"]
    assert line["kind"] == "system" and line["senderId"] is None
    assert line["data"] == {
        "type": "request.status",
        "requestId": request["id"],
        "from": "open",
        "to": "accepted",
    }
    r = await client.get(f"{CHAT}/conversations/{lost}/messages", headers=loser.headers)
    assert r.json()["data"]["items"] == []
    # System lines notify no one.
    assert await notified(db, buyer, "message.received") == []


async def test_is_participant_and_post_system_message(
    client: httpx.AsyncClient, db: Database, buyer: Account, seller: Account, admin: Account
) -> None:
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    async with db.session() as session:
        assert await chat.is_participant(session, buyer.id, cid)
        assert await chat.is_participant(session, str(seller.id), uuid.UUID(cid))
        assert not await chat.is_participant(session, admin.id, cid)
        assert not await chat.is_participant(session, buyer.id, "nope")
        await chat.post_system_message(session, uuid.UUID(cid), "Dispute opened", {"x": 1})
        await session.commit()
    r = await client.get(f"{CHAT}/conversations/{cid}", headers=buyer.headers)
    data = r.json()["data"]
    assert data["lastMessage"]["text"] == "Dispute opened" and data["unreadCount"] == 1


async def test_a_dispute_opens_a_conversation_with_the_staff(
    client: httpx.AsyncClient,
    db: Database,
    buyer: Account,
    seller: Account,
    admin: Account,
    make_user: MakeUser,
) -> None:
    resolver = await make_user(["resolver"])
    request, _ = await accepted_deal(client, buyer, seller)
    await fund(db, request["id"])
    async with db.session() as session:
        row = await requests.get_unscoped(session, request["id"], lock=True)
        actor = await session.get_one(User, buyer.id)
        await requests.open_dispute(session, row, actor=actor, role="buyer")
        await session.commit()
    r = await client.get(f"{CHAT}/conversations", headers=admin.headers)
    [dispute] = r.json()["data"]
    assert dispute["kind"] == "dispute" and dispute["requestId"] == request["id"]
    roles = {p["userId"]: p["role"] for p in dispute["participants"]}
    assert roles == {
        str(buyer.id): "buyer",
        str(seller.id): "seller",
        str(admin.id): "staff",
        str(resolver.id): "staff",
    }
    assert dispute["lastMessage"]["kind"] == "system"
    assert dispute["lastMessage"]["data"]["to"] == "disputed"
    # The request conversation got the line too; the resolver may answer in the dispute.
    said = await say(client, resolver, dispute["id"], "Please both send evidence")
    [told] = await notified(db, buyer, "message.received")
    assert told["messageId"] == said["id"]
    stranger = await make_user(["buyer"])
    r = await client.get(f"{CHAT}/conversations/{dispute['id']}", headers=stranger.headers)
    assert r.status_code == 404
