"""Field types for request bodies and query strings, shared by every domain's schemas:
exact money, token symbols, chain ids, file ids, entity references and storable text.

They parse and refuse input; what a field means (how long a title may be) is the domain's.
Text rules: NUL bytes and lone surrogates are refused in every input by one rule (bodies in
kit/schemas.py `Input`, query strings and paths in kit/http.py); `Line`/`VisibleLine`
refuse every line-break class and control characters in single-line fields, and the
`Visible*` types refuse text made only of spaces or invisible characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


# What shows nothing: spaces (Zs, Zl, Zp), controls (Cc) and format characters such as
# zero-width spaces (Cf), of the Basic Multilingual Plane (Unicode 14). Written out rather
# than read from `unicodedata` so the rule and the OpenAPI pattern stating it are one
# string; characters Python does not know yet (new emoji) count as visible.
INVISIBLE = (
    r"\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680"
    r"\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
)
_SHOWS_SOMETHING = re.compile(f"[^{INVISIBLE}]")


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
    if not _SHOWS_SOMETHING.search(value):
        raise ValueError("must contain a visible character")
    return value


# -- the same rules, stated in the OpenAPI document --------------------------------------
# Request bodies trim surrounding whitespace (`Input`) before these rules run, so a refused
# character may stand at either end; the patterns say so. `WHITESPACE` is what pydantic's
# trimming removes (Unicode White_Space, which unlike str.strip() keeps \x1c-\x1f).
WHITESPACE = r"\t-\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_IN_A_LINE = r"\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029"
NOT_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"


def text_pattern(
    refused: str, visible: bool, min_length: int = 0, max_length: int | None = None
) -> str:
    """The pattern of a trimmed text rule: whitespace at either end, then the value the
    rule sees: none of `refused`, `min_length` to `max_length` characters long and, when
    `visible` (and at most one character is required), showing something. A visible rule
    with a longer minimum needs `VISIBLE` as a second pattern. No lookahead: generators
    such as schemathesis slow to a crawl on them."""
    spaces = f"[{WHITESPACE}]*"
    if visible and min_length <= 1 and max_length is None:
        return f"^{spaces}[^{refused}]*[^{INVISIBLE}][^{refused}]*{spaces}$"
    edge = f"[^{refused}{WHITESPACE}]"  # first and last character once trimmed
    inner = f"[^{refused}]"
    lo, hi = min_length, max_length
    shapes = []
    if lo <= 1 and (hi is None or hi >= 1):
        shapes.append(edge)
    if hi is None or hi >= 2:
        upper = "" if hi is None else str(hi - 2)
        shapes.append(f"{edge}{inner}{{{max(lo, 2) - 2},{upper}}}{edge}")
    core = "|".join(shapes)
    core = f"(?:{core})?" if lo == 0 else f"(?:{core})"
    return f"^{spaces}{core}{spaces}$"


# Something to show, anywhere in the value (a second pattern beside `text_pattern`).
VISIBLE = f"[^{INVISIBLE}]"


# Each text type's pattern, and how to restate it with a field's lengths (kit/openapi.py).
TEXT_PATTERNS: dict[str, tuple[str, bool]] = {
    text_pattern(refused, visible): (refused, visible)
    for refused in (NOT_IN_A_LINE, NOT_IN_TEXT)
    for visible in (False, True)
}


@dataclass(frozen=True)
class _Pattern:
    """Adds a `pattern` to a string's JSON schema without validating it twice."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


# Text a request may store: NUL and lone surrogates refused (also by the global rule).
Text = Annotated[str, AfterValidator(safe_text)]
# One line of text (names, titles, subjects): no line breaks of any kind, no controls.
Line = Annotated[str, AfterValidator(single_line), _Pattern(text_pattern(NOT_IN_A_LINE, False))]
# A single line that must show something: not only spaces or invisible characters.
VisibleLine = Annotated[
    str,
    AfterValidator(single_line),
    AfterValidator(visible),
    _Pattern(text_pattern(NOT_IN_A_LINE, True)),
]
# Several lines (descriptions, messages, bios): no controls but tab and line breaks.
MultiLine = Annotated[str, AfterValidator(multi_line), _Pattern(text_pattern(NOT_IN_TEXT, False))]
VisibleText = Annotated[
    str,
    AfterValidator(multi_line),
    AfterValidator(visible),
    _Pattern(text_pattern(NOT_IN_TEXT, True)),
]


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
    # The years allowed (offsets at the very edges aside).
    _Pattern(r"^(19[7-9][0-9]|[2-8][0-9]{3}|9000)-"),
]
# Money on the wire: a plain decimal string (surrounding spaces allowed), at most 20 integer
# and 18 fraction digits (trailing zeros aside), or a JSON integer; never a float. How many
# decimals a token allows is the token registry's rule (kit/tokens.py), checked later.
_DIGITS = r"0*[0-9]{1,20}"
_FRACTION = r"(\.[0-9]{1,18}0*)?"
_POSITIVE = r"(0*[1-9][0-9]{0,19}(\.[0-9]{1,18}0*)?|0+\.(?=[0-9]*[1-9])[0-9]{1,18}0*)"
_SPACES = r"[ \t\r\n]*"
_MONEY_HELP = 'Decimal string such as "12.50" (or a JSON integer); never a float'
_MONEY_LIMIT = 10**20  # exact as a float too


# An amount as text (a query string): the same spelling as in a body.
AMOUNT_TEXT = f"^{_SPACES}{_DIGITS}{_FRACTION}{_SPACES}$"


def _money_schema(pattern: str, minimum: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{_SPACES}{pattern}{_SPACES}$"},
                {"type": "integer", "minimum": minimum, "exclusiveMaximum": _MONEY_LIMIT},
            ],
            "description": _MONEY_HELP,
        }
    )


Amount = Annotated[
    Decimal, BeforeValidator(_parse_money), Field(ge=0), _money_schema(_DIGITS + _FRACTION, 0)
]
Price = Annotated[Decimal, BeforeValidator(_parse_money), Field(gt=0), _money_schema(_POSITIVE, 1)]
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
