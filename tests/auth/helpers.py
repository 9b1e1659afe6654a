"""Calls the auth tests share: sign up, sign in, read the account row."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import Job, User

PASSWORD = "correct horse battery staple"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def register(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Register (defaults filled in); returns the response data."""
    body = {"email": new_email(), "password": PASSWORD, "name": "Rae Registrant", **fields}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_row(db: Database, email: str) -> User:
    async with db.session(False) as session:
        stmt = sa.select(User).where(User.email == email.lower())
        return (await session.execute(stmt)).scalar_one()


async def update_user(db: Database, email: str, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(sa.update(User).where(User.email == email.lower()).values(**values))
        await session.commit()


async def count_users(db: Database) -> int:
    async with db.session(False) as session:
        return int((await session.execute(sa.select(sa.func.count(User.id)))).scalar_one())


async def email_jobs(db: Database, to: str | None = None) -> list[Job]:
    async with db.session(False) as session:
        jobs = (await session.execute(sa.select(Job).where(Job.kind == "email.send"))).scalars()
        return [j for j in jobs if to is None or j.payload.get("to") == to]


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]  # type: ignore[no-any-return]
