"""terms versions on requests and offers; the buyer's template note moves out of the description

Revision ID: 0008_terms_versions
Revises: 0007_request_search_text
Create Date: 2026-12-02 09:00:00

`purchase_requests.terms_version` counts edits of what is bought (item, quantity, currency,
delivery) and `seller_offers.terms_version` names the one an offer answers: an offer made
against older terms cannot be accepted until its seller re-confirms. Existing rows start at
1 on both sides, so every live offer is current.

`purchase_requests.buyer_note` holds the buyer's note to the shop when ordering from a
template. It used to be appended to the public description ("Note from the buyer: …");
requests made from a template get their note moved back out, and their search terms
recomputed, so the note is no longer public or searchable. The downgrade appends it again.

Plain ADD/DROP COLUMN on both databases: a batch rebuild of purchase_requests on SQLite
would lose its FTS triggers and its expression index (docs/operations.md, "Database").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bazaar.kit.textsearch import document

revision: str = "0008_terms_versions"
down_revision: str | Sequence[str] | None = "0007_request_search_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
# How templates/service.py wrote the note until this revision.
NOTE = "Note from the buyer: "
SEPARATOR = "\n\n"

requests = sa.table(
    "purchase_requests",
    sa.column("id", sa.Uuid),
    sa.column("title", sa.Text),
    sa.column("description", sa.Text),
    sa.column("search_text", sa.Text),
    sa.column("template_id", sa.Uuid),
    sa.column("buyer_note", sa.Text),
)


def split_note(description: str) -> tuple[str, str | None]:
    """(description, note) from a description the old code wrote: the note was the whole
    text or followed the template's description after a blank line."""
    if description.startswith(NOTE):
        return "", description[len(NOTE) :]
    at = description.find(SEPARATOR + NOTE)
    if at < 0:
        return description, None
    return description[:at], description[at + len(SEPARATOR) + len(NOTE) :]


def _rows(where: sa.ColumnElement[bool]) -> list[sa.Row[tuple[object, ...]]]:
    bind = op.get_bind()
    found: list[sa.Row[tuple[object, ...]]] = []
    last = None
    while True:
        stmt = sa.select(
            requests.c.id, requests.c.title, requests.c.description, requests.c.buyer_note
        ).where(where)
        if last is not None:
            stmt = stmt.where(requests.c.id > last)
        rows = bind.execute(stmt.order_by(requests.c.id).limit(BATCH)).all()
        if not rows:
            return found
        found.extend(rows)
        last = rows[-1][0]


def _move_notes_out() -> None:
    bind = op.get_bind()
    ordered = sa.and_(requests.c.template_id.is_not(None), requests.c.description.contains(NOTE))
    for row_id, title, description, _ in _rows(ordered):
        kept, note = split_note(str(description))
        if note is None:
            continue
        bind.execute(
            requests.update()
            .where(requests.c.id == row_id)
            .values(
                description=kept,
                buyer_note=note,
                search_text=document(str(title), kept),
            )
        )


def _move_notes_back() -> None:
    bind = op.get_bind()
    for row_id, title, description, note in _rows(requests.c.buyer_note.is_not(None)):
        text = f"{NOTE}{note}"
        merged = f"{description}{SEPARATOR}{text}" if description else text
        bind.execute(
            requests.update()
            .where(requests.c.id == row_id)
            .values(description=merged, search_text=document(str(title), merged))
        )


def upgrade() -> None:
    op.add_column(
        "purchase_requests",
        sa.Column("terms_version", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column("purchase_requests", sa.Column("buyer_note", sa.Text(), nullable=True))
    op.add_column(
        "seller_offers",
        sa.Column("terms_version", sa.Integer(), server_default="1", nullable=False),
    )
    _move_notes_out()


def downgrade() -> None:
    _move_notes_back()
    # In place on both (SQLite has DROP COLUMN since 3.35): no table rebuild.
    op.execute("ALTER TABLE seller_offers DROP COLUMN terms_version")
    op.execute("ALTER TABLE purchase_requests DROP COLUMN buyer_note")
    op.execute("ALTER TABLE purchase_requests DROP COLUMN terms_version")
