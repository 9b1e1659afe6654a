"""The pending payment an accepted offer creates: exact fee, deadline, and when the
marketplace may still drop it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import Payment, PurchaseRequest, SellerOffer, User
from bazaar.payments import service
from bazaar.payments.errors import PaymentInProgress, TokenNotPayable
from tests.conftest import base_settings


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [
        ("120", "2.5", "3"),
        ("0.000000000000000001", "2.5", "0"),  # half-even: 0.000000000000000000025 → 0
        ("0.000000000000000060", "2.5", "0.000000000000000002"),  # 0.0...015 → 2 (even)
        (
            "99999999999999999999.999999999999999999",
            "2.5",
            "2500000000000000000.000000000000000000",
        ),
        ("10", "0", "0"),
        ("33.333333333333333333", "1.75", "0.583333333333333333"),
    ],
)
def test_platform_fee_is_exact_to_18_decimals(amount: str, percent: str, fee: str) -> None:
    assert service.platform_fee(Decimal(amount), percent) == Decimal(fee)


async def deal(db: Database, price: str = "250.5") -> tuple[PurchaseRequest, SellerOffer]:
    async with db.session() as session:
        buyer = User(email=f"b-{uuid.uuid4().hex}@x.io", roles=["buyer"])
        seller = User(email=f"s-{uuid.uuid4().hex}@x.io", roles=["seller"])
        session.add_all([buyer, seller])
        await session.flush()
        request = PurchaseRequest(
            buyer_id=buyer.id,
            title="Drone",
            status="accepted",
            funding_deadline=utcnow() + timedelta(hours=24),
        )
        session.add(request)
        await session.flush()
        offer = SellerOffer(
            request_id=request.id,
            seller_id=seller.id,
            price=Decimal(price),
            currency="USDT",
            network=10,
            status="accepted",
        )
        session.add(offer)
        await session.commit()
        return request, offer


async def test_pending_payment_mirrors_the_offer(db: Database, tmp_path: Path) -> None:
    request, offer = await deal(db)
    settings: Settings = base_settings(tmp_path, platform_fee_percent="4")
    now = utcnow()
    async with db.session() as session:
        payment = await service.create_pending_payment(
            session, request, offer, now, settings=settings
        )
        await session.commit()
    async with db.session(False) as session:
        stored = await session.get_one(Payment, payment.id)
    assert (stored.amount, stored.platform_fee) == (Decimal("250.5"), Decimal("10.02"))
    assert (stored.currency, stored.network, stored.status) == ("USDT", 10, "pending")
    # USDT's contract on Optimism, from the token registry.
    assert stored.token_contract == "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58"
    assert (stored.buyer_id, stored.seller_id) == (request.buyer_id, offer.seller_id)
    assert stored.expires_at == request.funding_deadline
    assert stored.provider is None  # chosen when the buyer pays


@pytest.mark.parametrize(("currency", "network"), [("USDT", None), ("USDT", 11155111), ("DOGE", 1)])
async def test_an_offer_the_registry_cannot_pay_makes_no_payment(
    db: Database, tmp_path: Path, currency: str, network: int | None
) -> None:
    """Offers older than the registry (no network) or whose deployment was removed from the
    configuration: the payment would not know where the money goes, so there is none."""
    request, offer = await deal(db)
    offer.currency, offer.network = currency, network
    async with db.session() as session:
        with pytest.raises(TokenNotPayable):
            await service.create_pending_payment(
                session, request, offer, utcnow(), settings=base_settings(tmp_path)
            )


async def test_a_configured_deployment_is_paid_on(db: Database, tmp_path: Path) -> None:
    request, offer = await deal(db)
    offer.network = 31337
    local = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    settings = base_settings(tmp_path, token_contracts={"USDT": {"anvil": local}})
    async with db.session() as session:
        payment = await service.create_pending_payment(
            session, request, offer, utcnow(), settings=settings
        )
    assert (payment.network, payment.token_contract) == (31337, local)


@pytest.mark.parametrize(
    ("status", "droppable"),
    [
        ("pending", True),
        ("expired", True),
        ("cancelled", True),
        ("failed", True),
        ("partially_paid", False),
        ("confirming", False),
        ("awaiting_review", False),
        ("held", False),
    ],
)
async def test_open_payment_refuses_once_money_moves(
    db: Database, status: str, droppable: bool
) -> None:
    request, offer = await deal(db)
    async with db.session() as session:
        session.add(
            Payment(
                request_id=request.id,
                offer_id=offer.id,
                buyer_id=request.buyer_id,
                seller_id=offer.seller_id,
                amount=offer.price,
                currency="USDT",
                status=status,
            )
        )
        await session.commit()
    async with db.session() as session:
        if droppable:
            found = await service.open_payment(session, request.id)
            assert (found is not None) == (status == "pending")
        else:
            with pytest.raises(PaymentInProgress):
                await service.open_payment(session, request.id)
