"""Field types for request bodies and query strings, shared by every domain's schemas:
exact money, token symbols, chain ids, file ids, entity references and storable text.

They parse and refuse input; what a field means (how long a title may be) is the domain's.
Text rules: NUL bytes and lone surrogates are refused in every input by one rule (bodies in
kit/schemas.py `Input`, query strings and paths in kit/http.py); `Line`/`VisibleLine`
refuse every line-break class and control characters in single-line fields, and the
`Visible*` types refuse text made only of spaces or invisible characters.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from bazaar.kit.money import to_decimal
from bazaar.kit.wallets import normalize_network


def _parse_money(value: Any) -> Any:
    # JSON numbers with a fraction arrive as floats, which are never exact: refuse them.
    if isinstance(value, bool | float):
        raise ValueError('send amounts as decimal strings, e.g. "12.50"')
    if value is None:
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _parse_network(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        return int(normalize_network(str(value)))
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def safe_text(value: str) -> str:
    """Refuse text PostgreSQL cannot store (NUL, lone surrogates) with a 400, not a 500."""
    problem = storable_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def storable_problem(value: str) -> str | None:
    """Why text cannot be stored as is (NUL, lone surrogates), or None. Every input —
    bodies, query strings, path parameters — passes this rule (kit/schemas.py,
    kit/http.py)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


# Every way Unicode and ASCII can break a line: a single-line value (a name, an email
# subject) must contain none, or it could end a mail header early. `str.splitlines`
# breaks on exactly these.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def _visible(char: str) -> bool:
    # Letters, marks, numbers, punctuation, symbols; not spaces (Z*), controls (Cc),
    # format characters such as zero-width spaces (Cf), or unassigned code points.
    return unicodedata.category(char)[0] in "LMNPS"


def single_line(value: str) -> str:
    safe_text(value)
    if any(c in LINE_BREAKS for c in value):
        raise ValueError("must be a single line")
    if any(_control(c) and c != "\t" for c in value):
        raise ValueError("must not contain control characters")
    return value


def multi_line(value: str) -> str:
    safe_text(value)
    if any(_control(c) and c not in "\t\n\r" for c in value):
        raise ValueError("must not contain control characters")
    return value


def visible(value: str) -> str:
    if not any(_visible(c) for c in value):
        raise ValueError("must contain a visible character")
    return value


# Text a request may store: NUL and lone surrogates refused (also by the global rule).
Text = Annotated[str, AfterValidator(safe_text)]
# One line of text (names, titles, subjects): no line breaks of any kind, no controls.
Line = Annotated[str, AfterValidator(single_line)]
# A single line that must show something: not only spaces or invisible characters.
VisibleLine = Annotated[str, AfterValidator(single_line), AfterValidator(visible)]
# Several lines (descriptions, messages, bios): no controls but tab and line breaks.
MultiLine = Annotated[str, AfterValidator(multi_line)]
VisibleText = Annotated[str, AfterValidator(multi_line), AfterValidator(visible)]


# Datetimes a client may send: with an offset (or UTC if none), between these years. Far
# dates used to overflow converting to UTC ("0001-01-01T00:00:00+01:00") and answer 500.
EARLIEST_YEAR = 1970
LATEST_YEAR = 9000


def _utc(value: datetime) -> datetime:
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is out of range") from None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return moment


When = Annotated[
    datetime,
    AfterValidator(_utc),
    Field(description="ISO-8601 date and time; with an offset, or UTC when it has none"),
]
Amount = Annotated[Decimal, BeforeValidator(_parse_money), Field(ge=0)]
Price = Annotated[Decimal, BeforeValidator(_parse_money), Field(gt=0)]
Currency = Annotated[
    str,
    BeforeValidator(_upper),
    Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9.]+$", description="Token symbol"),
]
Network = Annotated[
    int | None,
    BeforeValidator(_parse_network),
    Field(description="EVM chain id (a known name such as `base` is accepted)"),
]
FileId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
# A UUID, a 24-hex legacy id or (for categories and shops) a slug.
Ref = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_-]+$")]
