"""Configuration (SPEC §2): seed names and defaults, durations, production refusal."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bazaar.config import (
    DEV_JWT_SECRET,
    ConfigError,
    Settings,
    check_startup,
    ignored_legacy_env,
    parse_duration,
)

PRODUCTION = {"NODE_ENV": "production", "JWT_SECRET": "s" * 40, "METRICS_TOKEN": "m" * 24}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in (
        "PG_URL",
        "REDIS_URI",
        "JWT_SECRET",
        "NODE_ENV",
        "APP_ENV",
        "PORT",
        "SEED_USERS",
        "METRICS_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_zero_config_runs_on_sqlite_with_seed_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_from({}, monkeypatch)
    assert s.port == 5001
    assert s.database_backend == "sqlite"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.jwt_expires_in == timedelta(days=7)
    assert s.refresh_token_expires_in == timedelta(days=30)
    assert s.frontend_url == "http://localhost:3000"
    assert s.rate_limit_auth == "10/15 minutes"
    assert s.rate_limit_global == "100/15 minutes"
    assert s.derived_destination_sweep_signer == "build-only"
    check_startup(s)  # development starts with no configuration at all
    assert s.seed_dev_users is True


def test_seed_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_from(
        {
            "PORT": "6001",
            "PG_URL": "postgresql://bazaar@db:5432/bazaar",
            "JWT_EXPIRES_IN": "15m",
            "REFRESH_TOKEN_EXPIRES_IN": "3600",
            "APP_ENV": "staging",
            "SEED_USERS": "false",
            "TRUST_PROXY": "2",
        },
        monkeypatch,
    )
    assert s.port == 6001
    assert s.database_backend == "postgresql"
    assert s.database_url == "postgresql+asyncpg://bazaar@db:5432/bazaar"
    assert s.jwt_expires_in == timedelta(minutes=15)
    assert s.refresh_token_expires_in == timedelta(hours=1)
    assert s.node_env == "staging"
    assert s.seed_users is False
    assert s.trusted_hops == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("15m", timedelta(minutes=15)),
        ("3600", timedelta(hours=1)),
        ("2h", timedelta(hours=2)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_durations_accept_the_seed_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_a_bad_duration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        settings_from({"JWT_EXPIRES_IN": "seven days"}, monkeypatch)


@pytest.mark.parametrize(("value", "hops"), [("false", 0), ("true", 10**6), ("1", 1), ("", 0)])
def test_trust_proxy_has_express_meaning(
    value: str, hops: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings_from({"TRUST_PROXY": value}, monkeypatch).trusted_hops == hops


def test_production_refuses_the_development_or_a_short_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        check_startup(settings_from({"NODE_ENV": "production"}, monkeypatch))
    short = settings_from({"NODE_ENV": "production", "JWT_SECRET": "x" * 31}, monkeypatch)
    with pytest.raises(ConfigError, match="at least 32"):
        check_startup(short)
    assert short.jwt_secret != DEV_JWT_SECRET
    check_startup(settings_from({**PRODUCTION, "JWT_SECRET": "s" * 32}, monkeypatch))


def test_production_never_seeds_development_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    """`NODE_ENV=production bazaar seed` created admin@bazaar.local / Admin123!dev."""
    production = settings_from(PRODUCTION, monkeypatch)
    assert production.seed_dev_users is False
    check_startup(production)
    with pytest.raises(ConfigError, match="SEED_USERS"):
        check_startup(settings_from({**PRODUCTION, "SEED_USERS": "true"}, monkeypatch))
    assert settings_from({**PRODUCTION, "SEED_USERS": "false"}, monkeypatch).seed_dev_users is False


def test_production_requires_a_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "METRICS_TOKEN"}
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        check_startup(settings_from(without, monkeypatch))


def test_production_refuses_an_enabled_integration_without_its_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**PRODUCTION, "REQUEST_NETWORK_API_KEY": "k"}
    with pytest.raises(ConfigError, match="REQUEST_NETWORK_WEBHOOK_SECRET"):
        check_startup(settings_from(env, monkeypatch))


def test_legacy_store_flags_are_accepted_and_listed_for_one_warning() -> None:
    env = {"REPO_DEFAULT": "dual", "REPO_PAYMENT": "pg", "MONGO_CONNECT_MODE": "never", "X": "1"}
    assert ignored_legacy_env(env) == ["MONGO_CONNECT_MODE", "REPO_DEFAULT", "REPO_PAYMENT"]


def test_an_unknown_payment_setting_stops_startup_in_every_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A misspelt safety variable used to be ignored, running without its rule."""
    known = {
        "TRANSACTION_SAFETY_DENYLIST": "0x" + "ab" * 20,
        "PAYMENT_LEDGER_ENFORCEMENT": "true",
        "RPC_URL_31337": "http://127.0.0.1:8545",
        "PATH": "/usr/bin",
    }
    settings = settings_from({}, monkeypatch)
    check_startup(settings, known)  # every name is one Settings reads
    typo = {**known, "TRANSACTION_SAFETY_DENYLST": "0x" + "cd" * 20, "RPC_URL_MAINNET": "x"}
    with pytest.raises(ConfigError) as refused:
        check_startup(settings, typo)
    assert "RPC_URL_MAINNET, TRANSACTION_SAFETY_DENYLST" in str(refused.value)
    assert "TRANSACTION_SAFETY_DENYLIST," not in str(refused.value)


def test_serve_refuses_to_start_in_production_without_a_secret(tmp_path: Path) -> None:
    env = {"NODE_ENV": "production", "DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "bazaar.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr
