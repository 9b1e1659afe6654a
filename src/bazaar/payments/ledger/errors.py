"""Ledger errors (stable codes, part of the API when a money move is refused)."""

from __future__ import annotations

from bazaar.kit.errors import AppError, Conflict, NotFound


class InsufficientHeldFunds(Conflict):
    code = "INSUFFICIENT_HELD_FUNDS"
    message = "The escrow does not hold enough for this move"


class PaymentTerminal(Conflict):
    code = "PAYMENT_TERMINAL"
    message = "This payment is settled or closed; no more money moves on it"


class LedgerKeyReused(Conflict):
    code = "LEDGER_KEY_REUSED"
    message = "This idempotency key was already used for a different money movement"


class InsufficientBalance(Conflict):
    """A debit would take an account other than `external` below zero (a payout above
    what a seller is owed, a reversal of money already passed on)."""

    code = "INSUFFICIENT_BALANCE"
    message = "The account does not hold enough for this move"


class AlreadyReversed(Conflict):
    code = "LEDGER_ALREADY_REVERSED"
    message = "This ledger transaction has already been reversed"


class InvalidLedgerAmount(AppError):
    status_code = 400
    code = "INVALID_AMOUNT"
    message = "The amount must be positive and within the token's decimals"


class LedgerPaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    message = "Payment not found"


class LedgerTransactionNotFound(NotFound):
    code = "LEDGER_TRANSACTION_NOT_FOUND"
    message = "Ledger transaction not found"


class UnbalancedTransaction(AppError):
    """A movement built entries that do not sum to zero per asset: a bug, never input."""

    status_code = 500
    code = "LEDGER_UNBALANCED"
    message = "A ledger transaction did not balance; nothing was posted"


class NotReversible(Conflict):
    code = "LEDGER_NOT_REVERSIBLE"
    message = "A reversal cannot itself be reversed; post the movement again instead"


class TokenUnknown(Conflict):
    code = "LEDGER_TOKEN_UNKNOWN"
    message = (
        "The payment's token is no longer in the token registry (TOKEN_CONTRACTS); its "
        "decimals are unknown, so no fee or share can be rounded"
    )
