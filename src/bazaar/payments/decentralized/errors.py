"""Errors of on-chain pay-in (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, Forbidden, NotFound
from bazaar.payments.chain.errors import TxHashUsed

__all__ = [
    "BuyerOnly",
    "OnchainNotAvailable",
    "PaymentNotAwaitingFunds",
    "PaymentNotFound",
    "ProviderMismatch",
    "TxHashUsed",
]


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    message = "Payment not found"


class BuyerOnly(Forbidden):
    code = "NOT_THE_BUYER"
    message = "Only the payment's buyer can submit its transaction"


class PaymentNotAwaitingFunds(Conflict):
    code = "PAYMENT_NOT_AWAITING_FUNDS"
    message = (
        "This payment does not take a transaction now (only while pending, partially paid "
        "or confirming)"
    )


class ProviderMismatch(Conflict):
    code = "PAYMENT_PROVIDER_MISMATCH"
    message = "This payment is being paid through another provider"


class OnchainNotAvailable(Conflict):
    code = "ONCHAIN_NOT_AVAILABLE"
    message = (
        "On-chain payment is not set up for this payment's network and token (no receiver "
        "address configured)"
    )
