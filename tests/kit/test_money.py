"""Money columns are exact on both backends, 18 decimals included, in sums and order."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.kit.money import decode_sortable, encode_sortable, money_sum, to_decimal
from bazaar.models import Payment, PurchaseRequest, SellerOffer, User

EIGHTEEN = [
    Decimal("0.000000000000000001"),
    Decimal("123456789012345678.123456789012345678"),
    Decimal("99999999999999999999.999999999999999999"),
    Decimal("1.1"),
    Decimal("0"),
]


def test_sortable_encoding_round_trips_and_orders() -> None:
    values = [Decimal("-5.5"), Decimal("-0.000000000000000001"), *EIGHTEEN, Decimal("-12345.6")]
    for value in values:
        assert decode_sortable(encode_sortable(value)) == value
    encoded = sorted(values, key=encode_sortable)
    assert encoded == sorted(values)


def test_floats_and_excess_precision_are_refused() -> None:
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(ValueError):
        to_decimal("0.0000000000000000001")
    with pytest.raises(ValueError):
        to_decimal("1e30")


@pytest.mark.parametrize(
    "text",
    ["1_000", "１２", "٣", "1e3", "1E+2", "NaN", "Infinity", "+5", ".5", "5.", "1 000", "0x10", ""],
)
def test_money_is_plain_ascii_decimal_text(text: str) -> None:
    """Python's Decimal reads underscores, exponents and other scripts' digits; money does
    not (one rule for every amount the API takes)."""
    with pytest.raises(ValueError):
        to_decimal(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.50", "12.50"), (" 7 ", "7"), ("-0.5", "-0.5"), (42, "42"), (Decimal("1.5"), "1.5")],
)
def test_plain_amounts_parse_exactly(value: object, expected: str) -> None:
    assert to_decimal(value) == Decimal(expected)


def test_booleans_are_not_money() -> None:
    with pytest.raises(TypeError):
        to_decimal(True)


async def _seed_payments(db: Database, amounts: list[Decimal]) -> uuid.UUID:
    async with db.session() as s:
        buyer = User(email=f"b{uuid.uuid4().hex}@x.io", roles=["buyer"])
        seller = User(email=f"s{uuid.uuid4().hex}@x.io", roles=["seller"])
        s.add_all([buyer, seller])
        await s.flush()
        req = PurchaseRequest(buyer_id=buyer.id, title="t", status="accepted")
        s.add(req)
        await s.flush()
        for amount in amounts:
            offer = SellerOffer(
                request_id=req.id, seller_id=seller.id, price=amount, status="superseded"
            )
            s.add(offer)
            await s.flush()
            s.add(
                Payment(
                    request_id=req.id,
                    offer_id=offer.id,
                    buyer_id=buyer.id,
                    seller_id=seller.id,
                    amount=amount,
                    currency="DAI",
                )
            )
        await s.commit()
        return req.id


async def test_money_round_trips_exactly(db: Database) -> None:
    await _seed_payments(db, EIGHTEEN)
    async with db.session(False) as s:
        stored = (await s.execute(sa.select(Payment.amount))).scalars().all()
    assert sorted(stored) == sorted(EIGHTEEN)


async def test_money_sum_is_exact(db: Database) -> None:
    amounts = [Decimal("0.100000000000000001")] * 10 + [
        Decimal("12345678901234567.000000000000000009")
    ]
    await _seed_payments(db, amounts)
    async with db.session(False) as s:
        total = (await s.execute(sa.select(money_sum(Payment.amount)))).scalar_one()
    assert total == sum(amounts, Decimal(0))
    assert total == Decimal("12345678901234568.000000000000000019")


async def test_money_compares_and_orders_exactly_in_sql(db: Database) -> None:
    await _seed_payments(db, EIGHTEEN)
    async with db.session(False) as s:
        above = (
            (
                await s.execute(
                    sa.select(Payment.amount)
                    .where(Payment.amount > Decimal("1.099999999999999999"))
                    .order_by(Payment.amount)
                )
            )
            .scalars()
            .all()
        )
    assert above == sorted(v for v in EIGHTEEN if v > Decimal("1.099999999999999999"))
