"""Full-text search over request titles and descriptions: one meaning on both databases.

The terms are computed in Python (kit/textsearch.py): a request stores the stems of its
title and description in `search_text`, a search becomes `query_terms(q)`, and every term
must occur as a whole stem. PostgreSQL looks the terms up in a GIN index on
`to_tsvector('simple', search_text)`, whose expression is written out literally below
(bound parameters would make a different expression and the index would not be used);
SQLite in the FTS5 table `purchase_requests_fts` over `search_text` (plain unicode61
tokenizer), kept in sync by triggers. Neither database's stemmer, stop words or query
syntax is involved, so `-radio`, `or` and quotes are plain words on both.
"""

from __future__ import annotations

import sqlalchemy as sa

from bazaar.kit.textsearch import query_terms

# Must stay identical to the index in migrations/versions/*_request_search_text.py.
TSVECTOR = "to_tsvector('simple', purchase_requests.search_text)"


def fts5_query(terms: list[str]) -> str:
    """FTS5 query of quoted terms, all required (terms are letters and digits only)."""
    return " ".join(f'"{term}"' for term in terms)


def search_clause(q: str, backend: str) -> sa.ColumnElement[bool]:
    """WHERE clause: the request contains every word of the user's search text `q`; no
    words (only punctuation) matches nothing."""
    terms = query_terms(q)
    if not terms:
        return sa.false()
    if backend == "postgresql":
        # Terms are letters and digits only: `a & b` is a valid tsquery, nothing to escape.
        words = sa.bindparam("q", " & ".join(terms), type_=sa.Text, unique=True)
        tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), words)
        return sa.literal_column(TSVECTOR).op("@@", return_type=sa.Boolean)(tsquery)
    matching = sa.text(
        "SELECT rowid FROM purchase_requests_fts WHERE purchase_requests_fts MATCH :fts"
    ).bindparams(fts=fts5_query(terms))
    return sa.literal_column("purchase_requests.rowid").in_(matching.columns(sa.column("rowid")))
