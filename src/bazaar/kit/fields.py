"""Field types for request bodies and query strings, shared by every domain's schemas:
exact money, token symbols, chain ids, file ids, entity references and storable text.

They parse and refuse input; what a field means (how long a title may be) is the domain's.
"""

from __future__ import annotations

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
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(safe_text)]
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
