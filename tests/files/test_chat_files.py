"""A file sent in a chat message is readable by the conversation's participants (asked of
`chat.service.is_participant`) and by nobody else."""

from __future__ import annotations

import httpx

from tests.chat.test_chat import CHAT, conversation_of, offered
from tests.fixtures.files import PDF, Upload
from tests.fixtures.users import Account, MakeUser


async def test_message_attachment_is_readable_by_participants_only(
    client: httpx.AsyncClient,
    buyer: Account,
    seller: Account,
    make_user: MakeUser,
    upload_file: Upload,
) -> None:
    stranger = await make_user(["buyer", "seller"])
    request, _ = await offered(client, buyer, seller)
    cid = (await conversation_of(client, seller, request["id"])).json()["data"]["id"]
    file_id = await upload_file(buyer, "attachment", PDF, "invoice.pdf")
    assert (await client.get(f"/uploads/{file_id}", headers=seller.headers)).status_code == 404
    sent = await client.post(
        f"{CHAT}/conversations/{cid}/messages",
        json={"text": "the invoice", "attachments": [file_id]},
        headers=buyer.headers,
    )
    assert sent.status_code == 201, sent.text
    served = await client.get(f"/uploads/{file_id}", headers=seller.headers)
    assert (served.status_code, served.content) == (200, PDF)
    assert (await client.get(f"/uploads/{file_id}", headers=stranger.headers)).status_code == 404
    # The stranger cannot attach someone else's file to their own messages either.
    other_request, _ = await offered(client, stranger, seller)
    other = (await conversation_of(client, seller, other_request["id"])).json()["data"]["id"]
    refused = await client.post(
        f"{CHAT}/conversations/{other}/messages",
        json={"text": "mine now", "attachments": [file_id]},
        headers=stranger.headers,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "FILE_NOT_FOUND")
