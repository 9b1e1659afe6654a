"""Full-text search over request titles and descriptions, on either database.

PostgreSQL: `websearch_to_tsquery` against the exact expression of the GIN index
`ix_purchase_requests_fts`, written out literally (bound parameters would make a different
expression and the index would not be used). SQLite: the FTS5 table `purchase_requests_fts`
kept in sync by triggers; user input becomes a list of quoted terms, so no input can be FTS
syntax (and every term must match, as with websearch's default AND).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

# Must stay identical to the index in migrations/versions/*_marketplace.py.
TSVECTOR = (
    "to_tsvector('english', coalesce(purchase_requests.title, '') || ' ' || "
    "coalesce(purchase_requests.description, ''))"
)
# Letters and digits, as FTS5's unicode61 tokenizer splits words.
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 32


def fts5_query(q: str) -> str | None:
    """`q` as an FTS5 query of quoted terms (all must match); None when it has no words."""
    terms = _WORD.findall(q)[:MAX_TERMS]
    if not terms:
        return None
    return " ".join(f'"{term}"' for term in terms)


def search_clause(q: str, backend: str) -> sa.ColumnElement[bool]:
    """WHERE clause: the request matches the user's search text `q`."""
    if backend == "postgresql":
        words = sa.bindparam("q", q, type_=sa.Text, unique=True)
        tsquery = sa.func.websearch_to_tsquery(sa.literal_column("'english'"), words)
        return sa.literal_column(TSVECTOR).op("@@", return_type=sa.Boolean)(tsquery)
    match = fts5_query(q)
    if match is None:
        return sa.false()
    matching = sa.text(
        "SELECT rowid FROM purchase_requests_fts WHERE purchase_requests_fts MATCH :fts"
    ).bindparams(fts=match)
    return sa.literal_column("purchase_requests.rowid").in_(matching.columns(sa.column("rowid")))
