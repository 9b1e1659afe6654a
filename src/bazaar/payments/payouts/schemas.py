"""Payout request bodies and responses (admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.payments.payouts.transfer import SIGNER_FILLS

PayoutStatus = Literal["built", "sent", "done", "failed"]
PayoutKind = Literal["release", "refund"]


class PayoutOut(Schema):
    id: uuid.UUID
    payment_id: uuid.UUID
    kind: str = Field(description="release (to the seller) or refund (to the buyer)")
    recipient_id: uuid.UUID
    to_address: str = Field(description="EIP-55 address the tokens go to")
    chain_id: int
    token_contract: str
    currency: str
    amount: MoneyStr
    amount_base_units: str = Field(description="The amount in the token's smallest unit")
    status: str = Field(description="built → sent → done; a refused transaction: built again")
    tx_hash: str | None
    failure_reason: str | None = Field(
        description="Why the last transaction sent for it was refused"
    )
    confirmations: int
    ledger_transaction_id: uuid.UUID | None
    sent_by: uuid.UUID | None
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None


class PayoutDetail(PayoutOut):
    unsigned_tx: dict[str, Any] = Field(
        description="The unsigned EIP-1559 ERC-20 transfer: type, chainId, to (the token "
        "contract), value 0, data (transfer(to, amount)), gas. The signer sets nonce, "
        "maxFeePerGas and maxPriorityFeePerGas."
    )
    signer_fills: list[str] = Field(
        default_factory=lambda: list(SIGNER_FILLS),
        description="Fields of the transaction the signer must set",
    )


class MarkSent(Input):
    tx_hash: str = Field(
        min_length=66,
        max_length=66,
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="Hash of the transaction that carries the payout",
    )
