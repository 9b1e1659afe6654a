"""purchase_requests.search_text: search terms computed in Python, one meaning on both databases

Revision ID: 0007_request_search_text
Revises: 0006_payment_token_contract
Create Date: 2026-12-01 10:00:00

Search used each database's own rules (PostgreSQL: websearch_to_tsquery with English
stemming and stop words, `-word`, `or` and phrases; SQLite: FTS5's Porter tokenizer with
every word required). Requests now store the stems of their title and description
(bazaar.kit.textsearch.document) and both databases look up whole terms in that column:
PostgreSQL through a GIN index on to_tsvector('simple', search_text), SQLite through an
FTS5 table over it with the plain unicode61 tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bazaar.kit.textsearch import document

revision: str = "0007_request_search_text"
down_revision: str | Sequence[str] | None = "0006_payment_token_contract"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

FTS_TRIGGERS = (
    """CREATE TRIGGER purchase_requests_fts_ai AFTER INSERT ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(rowid, search_text)
        VALUES (new.rowid, new.search_text);
    END""",
    """CREATE TRIGGER purchase_requests_fts_ad AFTER DELETE ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(purchase_requests_fts, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
    END""",
    """CREATE TRIGGER purchase_requests_fts_au AFTER UPDATE OF search_text
        ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(purchase_requests_fts, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
        INSERT INTO purchase_requests_fts(rowid, search_text)
        VALUES (new.rowid, new.search_text);
    END""",
)

OLD_FTS_TRIGGERS = (
    """CREATE TRIGGER purchase_requests_fts_ai AFTER INSERT ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(rowid, title, description)
        VALUES (new.rowid, new.title, new.description);
    END""",
    """CREATE TRIGGER purchase_requests_fts_ad AFTER DELETE ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(purchase_requests_fts, rowid, title, description)
        VALUES ('delete', old.rowid, old.title, old.description);
    END""",
    """CREATE TRIGGER purchase_requests_fts_au AFTER UPDATE OF title, description
        ON purchase_requests BEGIN
        INSERT INTO purchase_requests_fts(purchase_requests_fts, rowid, title, description)
        VALUES ('delete', old.rowid, old.title, old.description);
        INSERT INTO purchase_requests_fts(rowid, title, description)
        VALUES (new.rowid, new.title, new.description);
    END""",
)


def _drop_sqlite_fts() -> None:
    for name in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS purchase_requests_fts_{name}")
    op.execute("DROP TABLE IF EXISTS purchase_requests_fts")


def _backfill() -> None:
    bind = op.get_bind()
    requests = sa.table(
        "purchase_requests",
        sa.column("id", sa.Uuid),
        sa.column("title", sa.Text),
        sa.column("description", sa.Text),
        sa.column("search_text", sa.Text),
    )
    last = None
    while True:
        stmt = sa.select(requests.c.id, requests.c.title, requests.c.description)
        if last is not None:
            stmt = stmt.where(requests.c.id > last)
        rows = bind.execute(stmt.order_by(requests.c.id).limit(BATCH)).all()
        if not rows:
            return
        for row_id, title, description in rows:
            bind.execute(
                requests.update()
                .where(requests.c.id == row_id)
                .values(search_text=document(title, description))
            )
        last = rows[-1][0]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if not postgresql:
        # The old triggers would fire on the backfill; the new table is filled at the end.
        _drop_sqlite_fts()
    # A plain ADD COLUMN on both databases: batch mode would rebuild the SQLite table and
    # lose its expression index (ix_purchase_requests_status_newest).
    op.add_column(
        "purchase_requests",
        sa.Column("search_text", sa.Text(), server_default="", nullable=False),
    )
    _backfill()
    if postgresql:
        op.execute("DROP INDEX IF EXISTS ix_purchase_requests_fts")
        op.execute(
            "CREATE INDEX ix_purchase_requests_fts ON purchase_requests USING gin "
            "(to_tsvector('simple', search_text))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE purchase_requests_fts USING fts5(search_text, "
        "content='purchase_requests', content_rowid='rowid', "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    for trigger in FTS_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO purchase_requests_fts(purchase_requests_fts) VALUES ('rebuild')")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("DROP INDEX IF EXISTS ix_purchase_requests_fts")
    else:
        _drop_sqlite_fts()
    # In place on both (SQLite has DROP COLUMN since 3.35; Python 3.11 ships 3.40): no
    # table rebuild that would lose the expression index.
    op.execute("ALTER TABLE purchase_requests DROP COLUMN search_text")
    if postgresql:
        op.execute(
            "CREATE INDEX ix_purchase_requests_fts ON purchase_requests USING gin "
            "(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '')))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE purchase_requests_fts USING fts5(title, description, "
        "content='purchase_requests', content_rowid='rowid', tokenize='porter unicode61')"
    )
    for trigger in OLD_FTS_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO purchase_requests_fts(purchase_requests_fts) VALUES ('rebuild')")
