"""Accounts, credentials and addresses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, Entity, JSONType, utcnow

ROLES = ("admin", "buyer", "seller", "resolver", "guard")


class User(Entity, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    roles: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["buyer"])
    avatar_file_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    bio: Mapped[str | None] = mapped_column(sa.Text)
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    referral_code: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    referred_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    email_verified_at: Mapped[datetime | None]
    banned_at: Mapped[datetime | None]
    ban_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # Bumped to invalidate every access token issued before (ban, password change).
    token_version: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None]

    def has_role(self, role: str) -> bool:
        return role in (self.roles or [])


class RefreshToken(Base):
    """Opaque refresh tokens, stored hashed; a family is one login's rotation chain."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class SignInFailure(Base):
    """Failed password checks toward the lockout, per sign-in address.

    Keyed by a digest of the normalised email, whether or not an account uses it: an
    unknown address locks exactly like a real one, so the lockout reveals nothing, and the
    addresses people try are not stored. In the database, so every process agrees."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UserToken(Base):
    """Single-use emailed tokens: password reset and email verification."""

    __tablename__ = "user_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(32))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class Address(Entity, Base):
    __tablename__ = "addresses"
    __table_args__ = (
        sa.Index(
            "uq_addresses_one_default",
            "user_id",
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(sa.String(60))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    line1: Mapped[str] = mapped_column(sa.String(200))
    line2: Mapped[str | None] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    postal_code: Mapped[str | None] = mapped_column(sa.String(20))
    country: Mapped[str] = mapped_column(sa.String(2))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    is_default: Mapped[bool] = mapped_column(default=False)
