"""References to files from other domains (`files.service.check_refs`): an avatar, request
attachments and delivery files must name a file the caller uploaded for that purpose; once
attached, the file is readable by whoever may read the object, and cannot be deleted."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import PurchaseRequest
from tests.fixtures.files import PDF, Upload
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import REQUESTS, post_request, request_body


async def test_request_attachment_is_readable_by_who_reads_the_request(
    client: httpx.AsyncClient, buyer: Account, seller: Account, upload_file: Upload
) -> None:
    file_id = await upload_file(buyer, "attachment", PDF, "spec.pdf")
    # Before it is attached, the seller cannot see it.
    assert (await client.get(f"/uploads/{file_id}", headers=seller.headers)).status_code == 404
    draft = await post_request(client, buyer, publish=False, attachments=[file_id])
    # Attached to a draft only its buyer reads: still hidden from the seller.
    assert (await client.get(f"/uploads/{file_id}", headers=seller.headers)).status_code == 404
    published = await client.post(f"{REQUESTS}/{draft['id']}/publish", headers=buyer.headers)
    assert published.status_code == 200, published.text
    served = await client.get(f"/uploads/{file_id}", headers=seller.headers)
    assert (served.status_code, served.content) == (200, PDF)
    assert (await client.get(f"/uploads/{file_id}")).status_code == 404  # anonymous
    # Attached: the owner cannot delete it from under the request.
    refused = await client.delete(f"/api/files/{file_id}", headers=buyer.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "FILE_IN_USE")


@pytest.mark.parametrize("kind", ["foreign", "missing", "wrong_purpose", "not_an_id"])
async def test_request_attachments_must_be_the_buyers_own_uploads(
    client: httpx.AsyncClient,
    buyer: Account,
    make_user: MakeUser,
    upload_file: Upload,
    db: Database,
    kind: str,
) -> None:
    other = await make_user()
    ref = {
        "foreign": lambda: upload_file(other, "attachment"),
        "missing": None,
        "wrong_purpose": lambda: upload_file(buyer, "avatar"),
        "not_an_id": None,
    }[kind]
    if kind == "missing":
        file_id = str(uuid.uuid4())
    elif kind == "not_an_id":
        file_id = "abc"
    else:
        assert ref is not None
        file_id = await ref()
    response = await client.post(
        REQUESTS, json=request_body(attachments=[file_id]), headers=buyer.headers
    )
    status, code = (
        (404, "FILE_NOT_FOUND") if kind in ("foreign", "missing") else (400, "FILE_REF_INVALID")
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    async with db.reading() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(PurchaseRequest)) == 0


async def test_request_edit_checks_added_attachments(
    client: httpx.AsyncClient, buyer: Account, make_user: MakeUser, upload_file: Upload
) -> None:
    other = await make_user()
    mine = await upload_file(buyer)
    draft = await post_request(client, buyer, publish=False, attachments=[mine])
    theirs = await upload_file(other)
    url = f"{REQUESTS}/{draft['id']}"
    refused = await client.patch(url, json={"attachments": [mine, theirs]}, headers=buyer.headers)
    assert refused.status_code == 404
    second = await upload_file(buyer)
    ok = await client.patch(url, json={"attachments": [mine, second]}, headers=buyer.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["attachments"] == [mine, second]


async def test_avatar_must_be_an_own_avatar_upload(
    client: httpx.AsyncClient, buyer: Account, make_user: MakeUser, upload_file: Upload
) -> None:
    other = await make_user()
    theirs = await upload_file(other, "avatar")
    attachment = await upload_file(buyer, "attachment")
    for ref, status in ((theirs, 404), (attachment, 400), (str(uuid.uuid4()), 404)):
        response = await client.patch(
            "/api/user/profile", headers=buyer.headers, json={"avatarFileId": ref}
        )
        assert response.status_code == status, response.text
    mine = await upload_file(buyer, "avatar")
    response = await client.patch(
        "/api/user/profile", headers=buyer.headers, json={"avatarFileId": mine}
    )
    assert response.json()["data"]["avatarFileId"] == mine
    in_use = await client.delete(f"/api/files/{mine}", headers=buyer.headers)
    assert in_use.status_code == 409
