"""Categories, shops, purchase requests and their history, offers, templates, reviews."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.kit.db import Base, Entity, JSONType, utcnow
from bazaar.kit.money import Money
from bazaar.kit.textsearch import document

LIVE_OFFER_STATUSES = ("pending", "accepted")


class Category(Entity, Base):
    __tablename__ = "categories"

    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    icon: Mapped[str | None] = mapped_column(sa.String(120))
    sort_order: Mapped[int] = mapped_column(default=0)


class Shop(Entity, Base):
    __tablename__ = "shops"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    logo_file_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    policies: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    payout_wallets: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    accepted_tokens: Mapped[list[str]] = mapped_column(JSONType, default=list)
    auto_accept: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PurchaseRequest(Entity, Base):
    __tablename__ = "purchase_requests"
    __table_args__ = (
        sa.Index("ix_purchase_requests_status_created", "status", "created_at"),
        sa.Index("ix_purchase_requests_status_expires", "status", "expires_at"),
    )

    buyer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(default=1)
    budget_min: Mapped[Decimal | None] = mapped_column(Money())
    budget_max: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(sa.String(16), default="USDC")
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    is_digital: Mapped[bool] = mapped_column(default=False)
    delivery_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    attachments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    target_shop_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("shops.id", ondelete="SET NULL")
    )
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("request_templates.id", ondelete="SET NULL")
    )
    ttl_seconds: Mapped[int | None]
    expires_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    accepted_offer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    locked_price: Mapped[Decimal | None] = mapped_column(Money())
    funding_deadline: Mapped[datetime | None]
    delivery_deadline: Mapped[datetime | None]
    inspection_deadline: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    delivery_note: Mapped[str | None] = mapped_column(sa.Text)
    delivery_files: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # What is bought, as a number: an edit of the item, quantity, currency or delivery
    # raises it, and an offer answers one version (SellerOffer.terms_version).
    terms_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The buyer's note to the shop when ordering from a template: private to the buyer,
    # that shop and admins (never in the public description, never searched).
    buyer_note: Mapped[str | None] = mapped_column(sa.Text)
    # The stems of title and description for full-text search (kit/textsearch.py), kept
    # in step by the listeners below: both databases search it the same way.
    search_text: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


@event.listens_for(PurchaseRequest, "before_insert")
def _index_new_request(_mapper: Any, _connection: Any, target: PurchaseRequest) -> None:
    target.search_text = document(target.title, target.description)


@event.listens_for(PurchaseRequest, "before_update")
def _reindex_request(_mapper: Any, _connection: Any, target: PurchaseRequest) -> None:
    state = sa.inspect(target)
    if state.attrs.title.history.has_changes() or state.attrs.description.history.has_changes():
        target.search_text = document(target.title, target.description)


class RequestHistory(Base):
    """Every state change of a purchase request: who, when, from, to, why."""

    __tablename__ = "request_history"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("purchase_requests.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    actor_role: Mapped[str] = mapped_column(sa.String(16))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SellerOffer(Entity, Base):
    __tablename__ = "seller_offers"
    __table_args__ = (
        sa.Index(
            "uq_seller_offers_live",
            "request_id",
            "seller_id",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'accepted')"),
            postgresql_where=sa.text("status IN ('pending', 'accepted')"),
        ),
        sa.Index("ix_seller_offers_status_expires", "status", "expires_at"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("purchase_requests.id", ondelete="CASCADE"), index=True
    )
    seller_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("shops.id", ondelete="SET NULL")
    )
    price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(sa.String(16), default="USDC")
    network: Mapped[int | None]
    delivery_days: Mapped[int] = mapped_column(default=7)
    message: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    from_template: Mapped[bool] = mapped_column(default=False)
    # The request's terms version this offer answers; the seller re-confirms after a change.
    terms_version: Mapped[int] = mapped_column(default=1, server_default="1")


class RequestTemplate(Entity, Base):
    __tablename__ = "request_templates"

    shop_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("shops.id", ondelete="CASCADE"), index=True
    )
    seller_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(sa.String(16), default="USDC")
    network: Mapped[int | None]
    delivery_days: Mapped[int] = mapped_column(default=7)
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="RESTRICT")
    )
    is_active: Mapped[bool] = mapped_column(default=True)


class Review(Entity, Base):
    __tablename__ = "reviews"
    __table_args__ = (sa.UniqueConstraint("request_id", "author_id", name="uq_reviews_once"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("purchase_requests.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    subject_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    author_role: Mapped[str] = mapped_column(sa.String(16))
    rating: Mapped[int]
    text: Mapped[str | None] = mapped_column(sa.Text)
