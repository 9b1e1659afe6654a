"""Own profile: read it, change it partially with PUT or PATCH, bad input is a 400."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.files import Upload
from tests.fixtures.users import Account, MakeUser


async def test_profile_shows_own_account(client: httpx.AsyncClient, buyer: Account) -> None:
    response = await client.get("/api/user/profile", headers=buyer.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    profile = body["data"]
    assert profile["id"] == str(buyer.id)
    assert profile["email"] == buyer.email
    assert profile["name"] == "Bea Buyer"
    assert profile["roles"] == ["buyer"]
    assert profile["locale"] == "en"
    assert profile["timezone"] == "UTC"
    assert profile["emailVerified"] is False
    assert profile["avatarFileId"] is None
    assert "createdAt" in profile and "referralCode" in profile


async def test_me_and_legacy_mount_are_the_same_profile(
    client: httpx.AsyncClient, seller: Account
) -> None:
    urls = ["/api/user/profile", "/api/user/me", "/api/users/profile", "/api/users/me"]
    profiles = [(await client.get(url, headers=seller.headers)).json()["data"] for url in urls]
    assert all(p == profiles[0] for p in profiles)
    assert profiles[0]["id"] == str(seller.id)


async def test_profile_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/user/profile")
    assert response.status_code == 401
    assert response.json()["success"] is False
    bad = await client.get("/api/user/profile", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_update_is_partial_and_persists(
    client: httpx.AsyncClient, make_user: MakeUser, upload_file: Upload, method: str
) -> None:
    user = await make_user(name="Old Name")
    avatar = await upload_file(user, "avatar")
    first = await client.request(
        method,
        "/api/user/profile",
        headers=user.headers,
        json={"bio": "Collector of rare stamps", "avatarFileId": avatar},
    )
    assert first.status_code == 200, first.text
    assert first.json()["data"]["name"] == "Old Name"  # untouched

    second = await client.request(
        method,
        "/api/user/profile",
        headers=user.headers,
        json={"name": "  New Name ", "locale": "pt_br", "timezone": "Europe/Berlin"},
    )
    assert second.status_code == 200, second.text

    profile = (await client.get("/api/user/profile", headers=user.headers)).json()["data"]
    assert profile["name"] == "New Name"
    assert profile["locale"] == "pt-BR"
    assert profile["timezone"] == "Europe/Berlin"
    assert profile["bio"] == "Collector of rare stamps"  # kept from the first call
    assert profile["avatarFileId"] == avatar


async def test_null_clears_avatar_and_bio(
    client: httpx.AsyncClient, buyer: Account, upload_file: Upload
) -> None:
    avatar = await upload_file(buyer, "avatar")
    first = await client.patch(
        "/api/user/profile", headers=buyer.headers, json={"bio": "hello", "avatarFileId": avatar}
    )
    assert first.json()["data"]["avatarFileId"] == avatar
    response = await client.patch(
        "/api/user/profile", headers=buyer.headers, json={"bio": None, "avatarFileId": None}
    )
    assert response.status_code == 200
    assert response.json()["data"]["bio"] is None
    assert response.json()["data"]["avatarFileId"] is None


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"locale": "english please"}, "locale"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"avatarFileId": "not-a-uuid"}, "avatarFileId"),
        ({"bio": "b" * 2001}, "bio"),
        ({"email": "other@example.com"}, "email"),
    ],
)
async def test_invalid_profile_input_is_refused(
    client: httpx.AsyncClient, buyer: Account, payload: dict[str, object], path: str
) -> None:
    response = await client.put("/api/user/profile", headers=buyer.headers, json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert any(d["path"] == path for d in error["details"]), error

    profile = (await client.get("/api/user/profile", headers=buyer.headers)).json()["data"]
    assert profile["name"] == "Bea Buyer"
    assert profile["timezone"] == "UTC"
    assert profile["email"] == buyer.email
