"""Settings: one class, the seed's environment variable names (SPEC §2)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Accept `7d`, `15m`, `3600` (seconds) as the seed does."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}: use e.g. 7d, 15m, 3600")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class ConfigError(RuntimeError):
    """Startup refused because the configuration is unsafe or incomplete."""


class _RpcUrlVariables(PydanticBaseSettingsSource):
    """`rpc_urls` from one variable per chain, RPC_URL_<chainId> (the process environment,
    then the .env file): pydantic-settings maps one variable to one field, so these are
    gathered here, still inside Settings' sources."""

    _NAME = re.compile(r"^rpc_url_(\d+)$", re.IGNORECASE)

    def __init__(self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        urls: dict[int, str] = {}
        for source in reversed(self._sources):  # the environment wins over .env
            for name, value in (getattr(source, "env_vars", None) or {}).items():
                match = self._NAME.match(name)
                if match and value:
                    urls[int(match.group(1))] = value.strip()
        return {"rpc_urls": urls} if urls else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    node_env: str = Field(
        "development", validation_alias=AliasChoices("NODE_ENV", "APP_ENV", "node_env")
    )
    port: int = 5001
    host: str = "0.0.0.0"
    data_dir: Path = Path("data")
    pg_url: str | None = None
    redis_uri: str | None = None
    redis_password: str | None = None

    jwt_secret: str = DEV_JWT_SECRET
    jwt_expires_in: timedelta = timedelta(days=7)
    refresh_token_expires_in: timedelta = timedelta(days=30)
    frontend_url: str = "http://localhost:3000"
    trust_proxy: str = "false"

    # Development accounts (known passwords) for `bazaar seed`: on by default in
    # development, off in production, where `true` is refused.
    seed_users: bool | None = None
    log_level: str = "INFO"

    # Rate limits (seed §3), written as `limits` strings.
    rate_limit_auth: str = "10/15 minutes"
    rate_limit_payment: str = "30/15 minutes"
    rate_limit_ai: str = "20/15 minutes"
    rate_limit_global: str = "100/15 minutes"
    # Mail to one address, or for one account: at most this often (verification, reset).
    rate_limit_mail: str = "1/1 minute"
    # Redis key prefix of the counters; processes sharing a limit must share it. Unset: a
    # fixed default, or one per app instance under NODE_ENV=test (see kit/ratelimit.py).
    rate_limit_prefix: str | None = None

    max_body_bytes: int = 10 * 1024 * 1024
    # PostgreSQL connections each process keeps for read sessions and for write
    # transactions; fixed pools without overflow, 16 in all by default, so 4 API processes
    # and 2 workers fit a server with max_connections=100 (docs/operations.md).
    db_read_pool_size: int = Field(10, ge=1)
    db_write_pool_size: int = Field(6, ge=1)
    # When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`; required in
    # production.
    metrics_token: str | None = None

    # Password hashing (Argon2id); lowered only by tests.
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456
    lockout_threshold: int = 5
    lockout_window: timedelta = timedelta(minutes=15)
    lockout_duration: timedelta = timedelta(minutes=15)
    # Lifetimes of the emailed single-use tokens.
    password_reset_expires_in: timedelta = timedelta(hours=1)
    email_verification_expires_in: timedelta = timedelta(hours=24)

    # Email
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_pass: str | None = Field(None, validation_alias=AliasChoices("SMTP_PASS", "SMTP_PASSWORD"))
    smtp_secure: bool = False
    smtp_starttls: bool = False
    smtp_from: str = "Bazaar <no-reply@bazaar.local>"
    smtp_timeout: float = 30.0

    # Worker
    worker_in_process: bool | None = None  # default: True in development, False in production
    worker_poll_interval: float = 1.0
    job_max_attempts: int = 5
    job_lease_seconds: int = 300
    # The prune sweeps (ops.prune, auth.token_cleanup) delete done and expired jobs,
    # idempotency keys and spent sign-in tokens after JOB_RETENTION, dead jobs after
    # DEAD_JOB_RETENTION (time to look at them), PRUNE_BATCH_SIZE rows per transaction.
    job_retention: timedelta = timedelta(days=7)
    dead_job_retention: timedelta = timedelta(days=30)
    prune_batch_size: int = Field(500, ge=1)

    # Marketplace timers
    request_default_ttl: timedelta = timedelta(days=7)
    payment_window: timedelta = timedelta(hours=24)
    inspection_period: timedelta = timedelta(days=3)
    delivery_grace: timedelta = timedelta(days=2)
    offer_default_ttl: timedelta = timedelta(days=7)
    review_window: timedelta = timedelta(days=7)
    platform_fee_percent: str = "2.5"
    # Token contracts beyond the built-in registry (kit/tokens.py), as JSON: per symbol,
    # chain id or network name -> contract (null removes a built-in one); a new token also
    # gives "decimals". E.g. {"USDC": {"31337": "0x5FbD..."}}.
    token_contracts: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Seed env names of integrations (used by later issues).
    request_network_api_base_url: str = "https://api.request.network"
    request_network_api_key: str | None = None
    request_network_webhook_secret: str | None = None
    payment_ledger_enforcement: bool = True
    derived_destination_sweep_signer: str = "build-only"
    # --- Escrow: ledger (payments/ledger/) ---
    # --- Escrow: chain and on-chain provider (payments/chain/, payments/providers/) ---
    # JSON-RPC endpoint per EVM chain, one variable each: RPC_URL_8453=https://…,
    # RPC_URL_31337=http://127.0.0.1:8545 (gathered by `_RpcUrlVariables`).
    rpc_urls: dict[int, str] = Field(default_factory=dict)
    # Seconds one JSON-RPC call may take before the node counts as unavailable (503).
    rpc_timeout: float = Field(10.0, gt=0, le=120)
    # Where buyers send on-chain payments: one address for every chain and token, and/or
    # JSON per chain id or "<chainId>:<SYMBOL>" ({"8453": "0x…", "8453:DAI": "0x…"}); the
    # most specific wins. Unset for a payment's chain and token: on-chain pay-in is off.
    onchain_receiver_address: str | None = None
    onchain_receivers: dict[str, str] = Field(default_factory=dict)
    # How long after a check the worker looks at a submitted or confirming transfer again,
    # and how many transfers one pass of the sweep takes.
    chain_recheck_interval: timedelta = timedelta(seconds=15)
    chain_verify_batch: int = Field(50, ge=1, le=10_000)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        rpc = _RpcUrlVariables(settings_cls, env_settings, dotenv_settings)
        return (init_settings, rpc, env_settings, dotenv_settings, file_secret_settings)

    @field_validator("chain_recheck_interval", mode="before")
    @classmethod
    def _chain_duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("rpc_urls")
    @classmethod
    def _rpc_urls(cls, value: dict[int, str]) -> dict[int, str]:
        for chain_id, url in value.items():
            if chain_id <= 0 or not url.startswith(("http://", "https://")):
                raise ValueError(f"RPC_URL_{chain_id} must be an http(s) URL")
        return value

    @field_validator("onchain_receiver_address")
    @classmethod
    def _receiver_address(cls, value: str | None) -> str | None:
        from bazaar.kit.wallets import normalize_evm_address

        return normalize_evm_address(value) if value else None

    @field_validator("onchain_receivers")
    @classmethod
    def _receivers(cls, value: dict[str, str]) -> dict[str, str]:
        from bazaar.kit.wallets import normalize_evm_address

        out = {}
        for key, address in value.items():
            chain, _, symbol = key.partition(":")
            if not chain.isdigit():
                raise ValueError(
                    f"ONCHAIN_RECEIVERS key {key!r}: use <chainId> or <chainId>:<SYMBOL>"
                )
            out[f"{int(chain)}:{symbol.upper()}" if symbol else str(int(chain))] = (
                normalize_evm_address(address)
            )
        return out

    # --- Escrow: lifecycle, timers and API (payments/lifecycle.py, escrow.py) ---
    # How long before the delivery and inspection deadlines the party who must act (the
    # seller to deliver, the buyer to confirm or dispute) is reminded, once per deadline.
    payment_reminder_before: timedelta = timedelta(hours=24)
    # --- Escrow: transaction safety and payouts (payments/safety/, payments/payouts/) ---
    # Confirmations a chain transfer needs before its money counts, unless an admin stored
    # a threshold for the (chain, token) (/api/admin/settings/confirmation-thresholds):
    # TRANSACTION_SAFETY_CONFIRMATIONS per chain ({"8453": 10}) or per chain and token
    # ({"8453": {"USDC": 10, "*": 12}}), else TRANSACTION_SAFETY_DEFAULT_CONFIRMATIONS.
    transaction_safety_default_confirmations: int = Field(12, ge=1, le=10_000)
    transaction_safety_confirmations: dict[str, Any] = Field(default_factory=lambda: {"31337": 1})
    # AML rules (payments/safety/): a funding transfer from a deny-listed address (comma-
    # separated or a JSON list), a payment above TRANSACTION_SAFETY_MAX_PAYMENT or a buyer
    # above TRANSACTION_SAFETY_DAILY_USER_LIMIT (funds confirmed in 24 h) waits for a guard.
    # Limits are token units: one decimal for every token, or JSON per symbol with "*" as
    # the default ({"USDC": "10000", "*": "5000"}); unset = no limit.
    transaction_safety_denylist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    transaction_safety_max_payment: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=dict
    )
    transaction_safety_daily_user_limit: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=dict
    )

    @field_validator("transaction_safety_denylist", mode="before")
    @classmethod
    def _safety_denylist(cls, value: Any) -> list[str]:
        from bazaar.payments.safety.rules import parse_denylist

        return parse_denylist(value)

    @field_validator(
        "transaction_safety_max_payment", "transaction_safety_daily_user_limit", mode="before"
    )
    @classmethod
    def _safety_limits(cls, value: Any) -> dict[str, Decimal]:
        from bazaar.payments.safety.rules import parse_limits

        return parse_limits(value)

    @field_validator("transaction_safety_confirmations", mode="before")
    @classmethod
    def _safety_confirmations(cls, value: Any) -> dict[str, Any]:
        from bazaar.payments.safety.rules import parse_confirmations

        return parse_confirmations(value)

    @field_validator("derived_destination_sweep_signer")
    @classmethod
    def _payout_signer(cls, value: str) -> str:
        # Only build-only exists: payouts are unsigned transactions an admin signs
        # elsewhere. Another value is refused at startup rather than half-working.
        if value.strip().lower() != "build-only":
            raise ValueError("only build-only is supported (payouts are signed elsewhere)")
        return "build-only"

    # --- Realtime (realtime/) ---
    # Redis pub/sub channel the Socket.IO servers share when REDIS_URI is set (realtime/).
    realtime_channel: str = Field("bazaar-socketio", min_length=1, max_length=100)
    # How often each process re-checks its sockets' tokens (ban, logout, expiry); a ban or
    # logout committed by the same process is acted on at once.
    realtime_recheck_seconds: float = Field(5.0, gt=0, le=3600)
    # --- Files (files/) ---
    # Upload size limits per purpose, in bytes (files/service.py); uploads live under
    # <DATA_DIR>/uploads. Orphans (never attached) older than `upload_orphan_ttl` are swept.
    upload_max_avatar_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    upload_max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    upload_max_evidence_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    upload_max_blog_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    upload_orphan_ttl: timedelta = timedelta(days=1)
    # --- Notifications (notifications/) ---
    # --- Chat (chat/) ---
    openai_api_key: str | None = None
    oracle_quoting_enabled: bool = False
    mongodb_uri: str | None = None

    @field_validator(
        "jwt_expires_in",
        "refresh_token_expires_in",
        "lockout_window",
        "lockout_duration",
        "password_reset_expires_in",
        "email_verification_expires_in",
        "request_default_ttl",
        "payment_window",
        "inspection_period",
        "delivery_grace",
        "offer_default_ttl",
        "review_window",
        "job_retention",
        "dead_job_retention",
        "payment_reminder_before",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("token_contracts")
    @classmethod
    def _token_contracts(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from bazaar.kit.tokens import build_registry

        build_registry(value)  # refuses an unusable entry at startup, naming it
        return value

    @property
    def is_production(self) -> bool:
        return self.node_env.lower() == "production"

    @property
    def database_url(self) -> str:
        if self.pg_url:
            url = self.pg_url
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+asyncpg://" + url[len(prefix) :]
            return url
        return f"sqlite+aiosqlite:///{self.data_dir / 'bazaar.db'}"

    @property
    def database_backend(self) -> str:
        return "postgresql" if self.pg_url else "sqlite"

    @property
    def seed_dev_users(self) -> bool:
        """Whether `bazaar seed` creates the development accounts."""
        return self.seed_users if self.seed_users is not None else not self.is_production

    @property
    def run_worker_in_process(self) -> bool:
        if self.worker_in_process is not None:
            return self.worker_in_process
        return not self.is_production

    @property
    def trusted_hops(self) -> int:
        """Express `trust proxy`: true = trust all, a number = hop count, false = none."""
        value = self.trust_proxy.strip().lower()
        if value in ("", "false", "0", "no", "off"):
            return 0
        if value in ("true", "yes", "on"):
            return 10**6
        if value.isdigit():
            return int(value)
        # Express also accepts subnet names like "loopback"; treat them as one hop.
        return 1

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def enabled_integrations(self) -> dict[str, bool]:
        return {
            "smtp": self.smtp_enabled,
            "redis": bool(self.redis_uri),
            "requestNetwork": bool(self.request_network_api_key),
            "openai": bool(self.openai_api_key),
        }


def ignored_legacy_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of REPO_* / MONGO_CONNECT_MODE variables (of the process environment by
    default): accepted, ignored, warned once at startup. The one place besides Settings
    that reads the environment."""
    names = os.environ if environ is None else environ
    return sorted(
        k for k in names if k.upper().startswith("REPO_") or k.upper() == "MONGO_CONNECT_MODE"
    )


# Namespaces of money settings: a variable in one that Settings does not read is a typo or a
# setting from another version (e.g. TRANSACTION_SAFETY_DENYLST), and running as if it were
# unset would silently drop a safety rule. So it stops startup in every environment.
MONEY_PREFIXES = (
    "TRANSACTION_SAFETY_",
    "PAYMENT_",
    "ONCHAIN_",
    "RPC_URL_",
    "DERIVED_DESTINATION_",
    "CHAIN_",
)
_RPC_URL = re.compile(r"^RPC_URL_\d+$")


def unknown_money_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables in a money namespace (MONEY_PREFIXES) that no setting reads."""
    names = os.environ if environ is None else environ
    known = {name.upper() for name in Settings.model_fields}
    return sorted(
        name
        for name in names
        if name.upper().startswith(MONEY_PREFIXES)
        and name.upper() not in known
        and not _RPC_URL.match(name.upper())
    )


def check_startup(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse to start with an unknown money setting (any environment) or, in production,
    with an unsafe configuration."""
    unknown = unknown_money_env(environ)
    if unknown:
        raise ConfigError(
            "unknown payment settings (a typo would silently drop a rule): "
            + ", ".join(unknown)
            + " — see docs/operations.md for the names Bazaar reads"
        )
    if not settings.is_production:
        return
    problems = []
    if not settings.jwt_secret or settings.jwt_secret == DEV_JWT_SECRET:
        problems.append("JWT_SECRET must be set in production")
    elif len(settings.jwt_secret) < 32:
        problems.append("JWT_SECRET must be at least 32 characters")
    if settings.seed_users:
        problems.append("SEED_USERS=true is refused: development accounts have known passwords")
    if not settings.metrics_token:
        problems.append("METRICS_TOKEN must be set in production (it protects /metrics)")
    if settings.smtp_host and not settings.smtp_from:
        problems.append("SMTP_FROM must be set when SMTP_HOST is set")
    if settings.request_network_api_key and not settings.request_network_webhook_secret:
        problems.append("REQUEST_NETWORK_WEBHOOK_SECRET is required when Request Network is on")
    if problems:
        raise ConfigError("; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    return Settings()
