"""The unsigned payout transaction: ERC-20 `transfer(to, amount)` calldata that decodes
back to the recipient and the exact base units, for 6- and 18-decimal tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_abi import decode

from bazaar.payments.payouts import transfer

TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


@pytest.mark.parametrize(
    ("amount", "decimals", "units"),
    [
        ("97.01", 6, 97_010_000),
        ("0.000001", 6, 1),
        ("123456789.123456", 6, 123_456_789_123_456),
        ("1.000000000000000001", 18, 1_000_000_000_000_000_001),
        ("99999999999999999999.999999999999999999", 18, 10**38 - 1),
    ],
)
def test_base_units_are_exact(amount: str, decimals: int, units: int) -> None:
    assert transfer.base_units(Decimal(amount), decimals) == units
    data = transfer.transfer_calldata(TO, units)
    assert data[:10] == "0xa9059cbb"
    recipient, value = decode(["address", "uint256"], bytes.fromhex(data[10:]))
    assert (recipient.lower(), value) == (TO.lower(), units)
    assert transfer.decode_transfer_calldata(data) == (TO, units)


def test_amounts_finer_than_the_token_or_not_positive_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        transfer.base_units(Decimal("1.0000001"), 6)
    for amount in ("0", "-1"):
        with pytest.raises(ValueError, match="positive"):
            transfer.base_units(Decimal(amount), 6)


def test_the_unsigned_transaction_leaves_fees_and_nonce_to_the_signer() -> None:
    tx = transfer.unsigned_transaction(8453, TOKEN, TO, 5)
    assert tx == {
        "type": 2,
        "chainId": 8453,
        "to": TOKEN,
        "value": 0,
        "data": transfer.transfer_calldata(TO, 5),
        "gas": transfer.GAS_LIMIT,
    }
    assert not set(transfer.SIGNER_FILLS) & set(tx)
    with pytest.raises(ValueError, match="not an ERC-20 transfer"):
        transfer.decode_transfer_calldata("0x095ea7b3" + "00" * 64)  # approve
