"""Bodies and answers of `/api/payment/decentralized`."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator

from bazaar.kit.schemas import Input, MoneyStr, Schema
from bazaar.kit.wallets import normalize_evm_address
from bazaar.payments.schemas import PaymentOut

TX_HASH = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class SaveTransaction(Input):
    payment_id: uuid.UUID = Field(description="The payment this transaction pays")
    tx_hash: str = Field(
        min_length=66,
        max_length=66,
        pattern=TX_HASH,
        description="The ERC-20 transfer's transaction hash on the payment's network",
    )
    refund_address: str | None = Field(
        None,
        min_length=42,
        max_length=42,
        pattern=ADDRESS,
        description="Where a refund goes (EIP-55 or all one case); default: the sender",
    )

    @field_validator("refund_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else normalize_evm_address(value)


class VerifyPayment(Input):
    payment_id: uuid.UUID = Field(description="The payment whose transactions to check now")


class ReceiverOut(Schema):
    payment_id: uuid.UUID
    address: str = Field(description="Send the tokens here (EIP-55)")
    chain_id: int
    token_contract: str = Field(description="The token's contract on that chain (EIP-55)")
    currency: str
    decimals: int
    amount: MoneyStr = Field(description="The payment's amount, token units")
    amount_due: MoneyStr = Field(description="Still to send: amount minus confirmed payments")
    amount_due_base_units: str = Field(description="amountDue in base units (integer text)")
    status: str


class TransferOut(Schema):
    id: uuid.UUID
    payment_id: uuid.UUID
    chain_id: int
    tx_hash: str
    status: str = Field(description="submitted, confirming, confirmed or failed")
    from_address: str | None
    to_address: str | None
    token_contract: str | None
    amount_base_units: str | None
    block_number: int | None
    confirmations: int
    failure_reason: str | None
    credited: bool = Field(description="Its amount is in the payment's escrow (ledger)")
    attempts: int
    next_check_at: datetime | None
    created_at: datetime


class VerifyOut(Schema):
    payment: PaymentOut
    transfers: list[TransferOut]
