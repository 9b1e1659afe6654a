"""Payments for ledger tests: rows written straight to the database (a buyer, a seller, an
accepted request and offer, the payment), and the status moved with a plain UPDATE — the
lifecycle that owns `Payment.status` is not what these tests are about."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import Database, utcnow
from bazaar.models import Payment, PurchaseRequest, SellerOffer, User
from bazaar.payments import ledger

# (symbol, chain id, contract, decimals) from the built-in token registry.
USDC = ("USDC", 1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6)
DAI = ("DAI", 1, "0x6B175474E89094C44Da98b954EedeAC495271d0F", 18)


async def add_payment(
    session: AsyncSession,
    *,
    token: tuple[str, int, str, int] = USDC,
    amount: Decimal = Decimal("100"),
    status: str = "held",
    buyer_id: uuid.UUID | None = None,
    seller_id: uuid.UUID | None = None,
) -> Payment:
    now = utcnow()
    if buyer_id is None:
        buyer = User(email=f"b-{uuid.uuid4().hex}@x.io", roles=["buyer"])
        session.add(buyer)
        await session.flush()
        buyer_id = buyer.id
    if seller_id is None:
        seller = User(email=f"s-{uuid.uuid4().hex}@x.io", roles=["seller"])
        session.add(seller)
        await session.flush()
        seller_id = seller.id
    symbol, chain, contract, _ = token
    request = PurchaseRequest(buyer_id=buyer_id, title="Drone", status="accepted", currency=symbol)
    session.add(request)
    await session.flush()
    offer = SellerOffer(
        request_id=request.id,
        seller_id=seller_id,
        price=amount,
        currency=symbol,
        network=chain,
        status="accepted",
    )
    session.add(offer)
    await session.flush()
    payment = Payment(
        request_id=request.id,
        offer_id=offer.id,
        buyer_id=buyer_id,
        seller_id=seller_id,
        amount=amount,
        currency=symbol,
        network=chain,
        token_contract=contract,
        status=status,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    await session.flush()
    return payment


async def make_payment(db: Database, **kwargs: object) -> Payment:
    async with db.transaction() as session:
        return await add_payment(session, **kwargs)  # type: ignore[arg-type]


async def funded_payment(
    db: Database, amount: Decimal = Decimal("100"), **kwargs: object
) -> Payment:
    """A `held` payment whose escrow holds `amount`."""
    async with db.transaction() as session:
        payment = await add_payment(session, amount=amount, **kwargs)  # type: ignore[arg-type]
        await ledger.fund(
            session, payment, amount, key=f"fund:{payment.id}", cause="test", now=utcnow()
        )
    return payment


async def set_status(session: AsyncSession, payment_id: uuid.UUID, status: str) -> None:
    await session.execute(sa.update(Payment).where(Payment.id == payment_id).values(status=status))


async def held(db: Database, payment: Payment) -> Decimal:
    async with db.reading() as session:
        return await ledger.held(session, payment)


async def count_kind(db: Database, kind: str, payment_id: uuid.UUID | None = None) -> int:
    from bazaar.models import LedgerTransaction

    stmt = sa.select(sa.func.count()).where(LedgerTransaction.kind == kind)
    if payment_id is not None:
        stmt = stmt.where(LedgerTransaction.payment_id == payment_id)
    async with db.reading() as session:
        return int(await session.scalar(stmt) or 0)


def when() -> datetime:
    return utcnow()
