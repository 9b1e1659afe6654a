"""The TRANSACTION_SAFETY_* settings are read (from the environment too) and parsed
strictly: a bad value stops the process at startup, naming the variable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bazaar.config import Settings
from bazaar.payments.safety import rules

BUYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SELLER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_denylist_takes_commas_or_json_in_any_case() -> None:
    text = f" {BUYER.lower()} ,{SELLER.upper().replace('0X', '0x')}\n"
    assert rules.parse_denylist(text) == sorted([BUYER, SELLER])
    assert rules.parse_denylist(f'["{SELLER}", "{SELLER.lower()}"]') == [SELLER]
    assert rules.parse_denylist("") == []
    with pytest.raises(ValueError, match="TRANSACTION_SAFETY_DENYLIST: 'bob'"):
        rules.parse_denylist(f"{BUYER},bob")


def test_limits_for_every_token_or_per_token() -> None:  # JSON numbers are read exactly
    assert rules.parse_limits("10000") == {"*": Decimal("10000")}
    per_token = rules.parse_limits('{"usdc": "2500.5", "*": 100}')
    assert per_token == {"USDC": Decimal("2500.5"), "*": Decimal(100)}
    assert rules.limit_for(per_token, "USDC") == Decimal("2500.5")
    assert rules.limit_for(per_token, "DAI") == Decimal(100)
    assert rules.limit_for({"USDC": Decimal(1)}, "DAI") is None
    for bad in ("-5", "0", "1e3", 1.5, '{"USDC": -1}', "ten"):
        with pytest.raises(ValueError):
            rules.parse_limits(bad)


def test_confirmations_per_chain_or_per_token() -> None:
    table = rules.parse_confirmations('{"base": {"usdc": 20, "*": 15}, "10": 5}')
    assert table == {"8453": {"USDC": 20, "*": 15}, "10": 5}
    assert rules.configured_confirmations(table, 8453, "USDC", 12) == 20
    assert rules.configured_confirmations(table, 8453, "DAI", 12) == 15
    assert rules.configured_confirmations(table, 10, "DAI", 12) == 5
    assert rules.configured_confirmations(table, 1, "DAI", 12) == 12
    for bad in ('{"8453": 0}', '{"8453": true}', '{"nowhere": 3}', "[1]"):
        with pytest.raises(ValueError):
            rules.parse_confirmations(bad)


def test_settings_read_the_safety_variables_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRANSACTION_SAFETY_DENYLIST", f"{BUYER.lower()},{SELLER}")
    monkeypatch.setenv("TRANSACTION_SAFETY_MAX_PAYMENT", "5000")
    monkeypatch.setenv("TRANSACTION_SAFETY_DAILY_USER_LIMIT", '{"USDC": "20000"}')
    monkeypatch.setenv("TRANSACTION_SAFETY_DEFAULT_CONFIRMATIONS", "20")
    monkeypatch.setenv("TRANSACTION_SAFETY_CONFIRMATIONS", '{"137": 64}')
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.transaction_safety_denylist == sorted([BUYER, SELLER])
    assert settings.transaction_safety_max_payment == {"*": Decimal(5000)}
    assert settings.transaction_safety_daily_user_limit == {"USDC": Decimal(20000)}
    assert settings.transaction_safety_default_confirmations == 20
    assert settings.transaction_safety_confirmations == {"137": 64}


def test_defaults_and_refusals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    defaults = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert defaults.transaction_safety_denylist == []
    assert defaults.transaction_safety_max_payment == {}
    assert defaults.transaction_safety_default_confirmations == 12
    assert defaults.transaction_safety_confirmations == {"31337": 1}  # the local chain
    assert defaults.derived_destination_sweep_signer == "build-only"
    monkeypatch.setenv("TRANSACTION_SAFETY_MAX_PAYMENT", "-1")
    with pytest.raises(ValidationError, match="limit must be positive"):
        Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    monkeypatch.delenv("TRANSACTION_SAFETY_MAX_PAYMENT")
    # Only the build-only signer exists: anything else stops the process at startup.
    monkeypatch.setenv("DERIVED_DESTINATION_SWEEP_SIGNER", "hot-wallet")
    with pytest.raises(ValidationError, match="only build-only"):
        Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
