"""The escrow ledger (SPEC §5): double-entry, append-only, exact.

    from bazaar.payments import ledger
    payment = await ledger.lock_payment(session, payment_id)
    await ledger.release(session, payment, fee_percent="2.5", key=key, cause=..., now=now)

One module per movement (fund, release, refund, split, payout, reversal), all posting
through `posting.post`; the three out of escrow share their steps in `outflow`.
Every function only flushes; the caller's unit of work commits.
Movements lock the payment row first (a caller that already locked it pays nothing more),
are idempotent by key, and never change `Payment.status` (payments/lifecycle.py does).
"""

from __future__ import annotations

from bazaar.payments.ledger.accounts import asset_of
from bazaar.payments.ledger.balances import balance, held, owed
from bazaar.payments.ledger.errors import (
    AlreadyReversed,
    InsufficientBalance,
    InsufficientHeldFunds,
    InvalidLedgerAmount,
    LedgerKeyReused,
    LedgerPaymentNotFound,
    LedgerTransactionNotFound,
    NotReversible,
    PaymentTerminal,
    TokenUnknown,
    UnbalancedTransaction,
)
from bazaar.payments.ledger.fund import fund
from bazaar.payments.ledger.lock import lock_payment
from bazaar.payments.ledger.payout import payout
from bazaar.payments.ledger.refund import refund
from bazaar.payments.ledger.release import release
from bazaar.payments.ledger.reversal import reverse
from bazaar.payments.ledger.rules import fee_of
from bazaar.payments.ledger.split import split

__all__ = [
    "AlreadyReversed",
    "InsufficientBalance",
    "InsufficientHeldFunds",
    "InvalidLedgerAmount",
    "LedgerKeyReused",
    "LedgerPaymentNotFound",
    "LedgerTransactionNotFound",
    "NotReversible",
    "PaymentTerminal",
    "TokenUnknown",
    "UnbalancedTransaction",
    "asset_of",
    "balance",
    "fee_of",
    "fund",
    "held",
    "lock_payment",
    "owed",
    "payout",
    "refund",
    "release",
    "reverse",
    "split",
]
