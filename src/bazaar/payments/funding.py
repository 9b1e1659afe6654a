"""Funding a payment from the chain: the entry points the on-chain provider, the API, the
worker and the dev tools call.

The verification itself (claim → JSON-RPC with no transaction open → record in short
transactions; reorgs; crediting the ledger once per transfer) lives beside the chain's
queries in `payments/chain/verification.py`: the payments package reaches the chain
package's repository only through it.
"""

from __future__ import annotations

from bazaar.payments.chain.errors import ChainUnavailable
from bazaar.payments.chain.verification import (
    LEASE,
    NOT_FOUND_AFTER,
    Claim,
    Claimed,
    Observation,
    claim,
    decimals_of,
    observe,
    observe_all,
    record,
    to_base_units,
    to_units,
    verify_due,
    verify_payment,
)

__all__ = [
    "LEASE",
    "NOT_FOUND_AFTER",
    "ChainUnavailable",
    "Claim",
    "Claimed",
    "Observation",
    "claim",
    "decimals_of",
    "observe",
    "observe_all",
    "record",
    "to_base_units",
    "to_units",
    "verify_due",
    "verify_payment",
]
