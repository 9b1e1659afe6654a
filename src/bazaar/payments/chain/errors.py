"""Chain errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import AppError, Conflict


class ChainUnavailable(AppError):
    """The chain's node is down, too slow (RPC_TIMEOUT) or not configured (RPC_URL_<id>).
    Nothing was recorded; the check is retried later."""

    status_code = 503
    code = "CHAIN_UNAVAILABLE"
    message = "The blockchain node for this network is unavailable; try again later"


class ChainRequestRefused(AppError):
    """The node answered with a JSON-RPC error (e.g. a transaction it will not accept)."""

    status_code = 502
    code = "CHAIN_REQUEST_REFUSED"
    message = "The blockchain node refused the request"


class TxHashUsed(Conflict):
    code = "TX_HASH_USED"
    message = "This transaction hash was already submitted for another payment"
