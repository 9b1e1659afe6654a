"""Payout errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, NotFound


class PayoutNotFound(NotFound):
    code = "PAYOUT_NOT_FOUND"
    message = "Payout not found"


class PayoutWalletMissing(Conflict):
    code = "PAYOUT_WALLET_MISSING"
    message = (
        "The seller's shop has no payout wallet on this network; add one in the shop "
        "settings (payoutWallets) first"
    )


class PayoutNotBuildable(Conflict):
    code = "PAYOUT_NOT_BUILDABLE"
    message = "This payout cannot be built as a token transfer"


class PayoutAlreadySent(Conflict):
    code = "PAYOUT_ALREADY_SENT"
    message = "This payout is already marked sent with another transaction"


class PayoutDone(Conflict):
    code = "PAYOUT_DONE"
    message = "This payout is already verified on chain and done"


class PayoutTxHashUsed(Conflict):
    code = "PAYOUT_TX_HASH_USED"
    message = "This transaction hash is already recorded for another payout or payment"
