"""A hypothesis state machine against a plain Decimal model: random fund / top-up /
partial and full release / refund / split / repeated keys on one payment per example, each
move in its own transaction, the invariant checker (`ledger verify`) after every step. On
both databases (BAZAAR_TEST_BACKEND)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

import hypothesis.strategies as st
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings as run_settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import LedgerTransaction
from bazaar.payments import ledger
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.verify import verify
from tests.conftest import truncate_all
from tests.payments.ledger.helpers import DAI, USDC, add_payment, set_status

T = TypeVar("T")
SETTLED = {"released", "refunded", "split"}


@dataclass
class Model:
    decimals: int
    fee_percent: Decimal
    status: str = "confirming"
    held: Decimal = Decimal(0)
    seller: Decimal = Decimal(0)
    buyer: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    transactions: int = 0

    def down(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_DOWN)


class LedgerMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    db: Database

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    @initialize(
        token=st.sampled_from([USDC, DAI]),
        fee_percent=st.sampled_from(["0", "2.5", "33.33", "100"]),
    )
    def start(self, token: tuple[str, int, str, int], fee_percent: str) -> None:
        self.model = Model(decimals=token[3], fee_percent=Decimal(fee_percent))
        self.keys = 0
        self.last: tuple[str, dict[str, Any], Any] | None = None
        self.funds: list[tuple[Any, Decimal]] = []  # (transaction id, amount) not reversed

        async def create() -> Any:
            async with self.db.transaction() as session:
                return await add_payment(session, token=token, status="confirming")

        self.payment = self.run(create())

    def units(self, base_units: int) -> Decimal:
        return Decimal(base_units).scaleb(-self.model.decimals)

    def key(self) -> str:
        self.keys += 1
        return f"{self.payment.id}:{self.keys}"

    def call(self, move: str, settle: str | None, **kwargs: Any) -> Any:
        """Run `ledger.<move>` in a transaction (and the status move a full one makes);
        the transaction, or the error it raised."""

        async def go() -> Any:
            async with self.db.transaction() as session:
                tx = await getattr(ledger, move)(session, self.payment, **kwargs)
                if settle is not None:
                    await set_status(session, self.payment.id, settle)
                return tx

        try:
            return self.run(go())
        except ledger.PaymentTerminal as exc:
            return exc
        except ledger.InsufficientHeldFunds as exc:
            return exc

    def common(self) -> dict[str, Any]:
        return {"key": self.key(), "cause": "model", "now": utcnow()}

    def expect_refusal(self, result: Any, amount: Decimal | None) -> bool:
        """True when the model says the move is refused (and checks it was)."""
        m = self.model
        if m.status in SETTLED:
            assert isinstance(result, ledger.PaymentTerminal), result
            return True
        if m.held == 0 or (amount is not None and amount > m.held):
            assert isinstance(result, ledger.InsufficientHeldFunds), result
            return True
        assert isinstance(result, LedgerTransaction), result
        m.transactions += 1
        return False

    @rule(base_units=st.integers(1, 10**9))
    def fund(self, base_units: int) -> None:
        amount = self.units(base_units)
        kwargs = {"amount": amount, **self.common()}
        result = self.call("fund", None, **kwargs)
        if self.model.status in SETTLED:
            assert isinstance(result, ledger.PaymentTerminal)
            return
        assert isinstance(result, LedgerTransaction)
        self.model.held += amount
        self.model.transactions += 1
        self.last = ("fund", kwargs, result.id)
        self.funds.append((result.id, amount))

    @rule(data=st.data())
    def reverse_a_fund(self, data: st.DataObject) -> None:
        """A chain reorg undoes a funding: allowed while the escrow still holds it."""
        if not self.funds:
            return
        index = data.draw(st.integers(0, len(self.funds) - 1))
        tx_id, amount = self.funds[index]

        async def go() -> Any:
            async with self.db.transaction() as session:
                return await ledger.reverse(
                    session, tx_id, key=self.key(), cause="chain.reorg", now=utcnow()
                )

        try:
            result = self.run(go())
        except ledger.InsufficientBalance as exc:
            result = exc
        if amount > self.model.held:
            assert isinstance(result, ledger.InsufficientBalance), result
            return
        assert isinstance(result, LedgerTransaction) and result.reverses_id == tx_id
        self.funds.pop(index)
        self.model.held -= amount
        self.model.transactions += 1

    @rule(base_units=st.none() | st.integers(1, 2 * 10**9))
    def release(self, base_units: int | None) -> None:
        m = self.model
        amount = None if base_units is None else self.units(base_units)
        kwargs = {"amount": amount, "fee_percent": str(m.fee_percent), **self.common()}
        settle = "released" if amount is None else None
        result = self.call("release", settle, **kwargs)
        if self.expect_refusal(result, amount):
            return
        gross = m.held if amount is None else amount
        fee = m.down(gross * m.fee_percent / 100)
        m.held -= gross
        m.fees += fee
        m.seller += gross - fee
        m.status = settle or m.status
        self.last = ("release", kwargs, result.id)

    @rule(base_units=st.none() | st.integers(1, 2 * 10**9))
    def refund(self, base_units: int | None) -> None:
        m = self.model
        amount = None if base_units is None else self.units(base_units)
        kwargs = {"amount": amount, **self.common()}
        settle = "refunded" if amount is None else None
        result = self.call("refund", settle, **kwargs)
        if self.expect_refusal(result, amount):
            return
        gross = m.held if amount is None else amount
        m.held -= gross
        m.buyer += gross
        m.status = settle or m.status
        self.last = ("refund", kwargs, result.id)

    @rule(buyer_percent=st.sampled_from(["0", "50", "33.3333", "99.99", "100"]))
    def split(self, buyer_percent: str) -> None:
        m = self.model
        kwargs = {
            "buyer_percent": buyer_percent,
            "fee_percent": str(m.fee_percent),
            **self.common(),
        }
        result = self.call("split", "split", **kwargs)
        if self.expect_refusal(result, None):
            return
        buyer = m.down(m.held * Decimal(buyer_percent) / 100)
        fee = m.down((m.held - buyer) * m.fee_percent / 100)
        m.buyer += buyer
        m.fees += fee
        m.seller += m.held - buyer - fee
        m.held = Decimal(0)
        m.status = "split"
        self.last = ("split", kwargs, result.id)

    @rule()
    def repeat_last(self) -> None:
        """The last successful move asked again with its key: answered, nothing posted."""
        if self.last is None:
            return
        move, kwargs, tx_id = self.last
        result = self.call(move, None, **kwargs)
        assert isinstance(result, LedgerTransaction) and result.id == tx_id

    @invariant()
    def ledger_matches_the_model(self) -> None:
        async def check() -> None:
            async with self.db.reading() as session:
                report = await verify(session)
                assert report.ok, [(c.name, c.breaches) for c in report.checks if not c.ok]
                asset = accounts.asset_of(self.payment)
                assert await ledger.held(session, self.payment) == self.model.held
                seller = await ledger.owed(
                    session, accounts.SELLER_PAYABLE, self.payment.seller_id, asset
                )
                buyer = await ledger.owed(
                    session, accounts.BUYER_REFUNDABLE, self.payment.buyer_id, asset
                )
                assert (seller, buyer) == (self.model.seller, self.model.buyer)
                n = await session.scalar(
                    sa.select(sa.func.count()).where(
                        LedgerTransaction.payment_id == self.payment.id
                    )
                )
                assert n == self.model.transactions

        if hasattr(self, "payment"):
            self.run(check())


def test_ledger_against_a_model(settings: Settings) -> None:
    loop = asyncio.new_event_loop()
    db = Database(settings)
    LedgerMachine.loop = loop
    LedgerMachine.db = db
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=hypothesis_settings(),
        )
    finally:
        loop.run_until_complete(truncate_all(db))
        loop.run_until_complete(db.dispose())
        loop.close()


def hypothesis_settings() -> run_settings:
    return run_settings(
        max_examples=30,
        stateful_step_count=15,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
