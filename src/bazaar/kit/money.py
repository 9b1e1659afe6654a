"""Exact money: Decimal in Python, NUMERIC(38,18) on PostgreSQL, ordered text on SQLite.

SQLite's NUMERIC affinity rounds through a double, so on SQLite a money value is stored as
fixed-width text that sorts and compares like the number it holds: 20 integer digits, a dot,
18 fraction digits; negative values are written as the nines' complement behind a `-`, which
sorts before any digit. Equality, ranges and ORDER BY therefore stay exact in SQL, and the
`money_sum` aggregate (registered on every SQLite connection) adds the values as Decimals.
"""

from __future__ import annotations

import decimal
import re
import sqlite3
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator

# 38 significant digits do not fit the default 28-digit context: money arithmetic anywhere
# in the process (sums, fees) must not round, so every new context gets 60 digits.
decimal.DefaultContext.prec = 60
decimal.getcontext().prec = 60

INT_DIGITS = 20
SCALE = 18
QUANTUM = Decimal(1).scaleb(-SCALE)
MAX_ABS = Decimal(10) ** INT_DIGITS


# The one spelling of an amount: ASCII digits with an optional sign and fraction. Python's
# Decimal also takes "1_000", "1e3", "Infinity" and other scripts' digits ("１２", "٣"),
# which no client means as money.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def to_decimal(value: Any) -> Decimal:
    """Parse a money value exactly: a Decimal, an int, or a plain decimal string such as
    "12.50" (surrounding spaces allowed); floats are refused (they are never exact)."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    if isinstance(value, bool):
        raise TypeError("money must not be a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        text = str(value).strip(" \t\r\n")
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise ValueError(
                f'invalid amount {value!r}: write digits 0-9 with an optional ".", e.g. "12.50"'
            )
        try:
            result = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
            raise ValueError(f"invalid amount {value!r}") from exc
    if not result.is_finite():
        raise ValueError("amount must be finite")
    if abs(result) >= MAX_ABS:
        raise ValueError("amount is too large")
    if result != result.quantize(QUANTUM, rounding=ROUND_HALF_EVEN):
        raise ValueError(f"amount has more than {SCALE} decimal places")
    return result


def format_money(value: Decimal | None) -> str | None:
    """Render a Decimal as the API's decimal string without exponent or trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f") if value != 0 else "0"
    if "." not in text:
        return text
    return text


def _complement(digits: str) -> str:
    return digits.translate(str.maketrans("0123456789", "9876543210"))


def encode_sortable(value: Decimal) -> str:
    with localcontext() as ctx:
        ctx.prec = INT_DIGITS + SCALE + 2
        q = to_decimal(value).quantize(QUANTUM)
        body = f"{abs(q):0{INT_DIGITS + SCALE + 1}.{SCALE}f}"
    if q < 0:
        return "-" + _complement(body)
    return body


def decode_sortable(text: str) -> Decimal:
    if text.startswith("-"):
        return -Decimal(_complement(text[1:]))
    return Decimal(text)


class Money(TypeDecorator[Decimal]):
    """Exact decimal column: NUMERIC(38,18) on PostgreSQL, sortable text on SQLite."""

    impl = sa.Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(INT_DIGITS + SCALE + 2))
        return dialect.type_descriptor(sa.Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return encode_sortable(to_decimal(value))
        return to_decimal(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return decode_sortable(str(value)).normalize()
        return Decimal(value).normalize()


class money_sum(GenericFunction[Decimal]):
    """SUM that stays exact on both backends; returns Decimal (0 for no rows)."""

    type = Money()
    inherit_cache = True
    name = "money_sum"


@compiles(money_sum)
def _money_sum_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"COALESCE(SUM({compiler.process(element.clauses, **kw)}), 0)"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"bz_money_sum({compiler.process(element.clauses, **kw)})"


class _SqliteMoneySum:
    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += decode_sortable(value)

    def finalize(self) -> str:
        with localcontext() as ctx:
            ctx.prec = 60
            return encode_sortable(self.total)


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Register `bz_money_sum` on a SQLite connection: a stdlib one (the inline read
    engine) or aiosqlite's (inside its thread)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        # typeshed's aggregate protocol expects integers; SQLite passes our text values.
        dbapi_connection.create_aggregate("bz_money_sum", 1, _SqliteMoneySum)  # type: ignore[arg-type]
        return

    async def _register(conn: Any) -> None:
        await conn._execute(conn._conn.create_aggregate, "bz_money_sum", 1, _SqliteMoneySum)

    dbapi_connection.run_async(_register)
