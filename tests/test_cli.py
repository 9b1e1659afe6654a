"""The `bazaar` command line as `make run` uses it: migrate, seed (twice), openapi."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bazaar.kit.migrations import head_revision


def bazaar(*args: str, data_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PG_URL", "REDIS_URI", "NODE_ENV")}
    env["DATA_DIR"] = str(data_dir)
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "bazaar.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_migrate_and_seed_are_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = bazaar("migrate", data_dir=tmp_path)
        assert result.returncode == 0, result.stderr
    db = tmp_path / "bazaar.db"
    with sqlite3.connect(db) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision()

    first = bazaar("seed", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    users, categories = count(db, "users"), count(db, "categories")
    assert users == 5 and categories > 5

    second = bazaar("seed", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "'users': 0" in second.stderr and "'categories': 0" in second.stderr
    assert (count(db, "users"), count(db, "categories")) == (users, categories)


def test_production_seed_creates_no_development_accounts(tmp_path: Path) -> None:
    production = {"NODE_ENV": "production", "JWT_SECRET": "s" * 40, "METRICS_TOKEN": "m" * 24}
    assert bazaar("migrate", data_dir=tmp_path, **production).returncode == 0
    seeded = bazaar("seed", data_dir=tmp_path, **production)
    assert seeded.returncode == 0, seeded.stderr
    db = tmp_path / "bazaar.db"
    assert count(db, "users") == 0 and count(db, "categories") > 5
    refused = bazaar("seed", data_dir=tmp_path, SEED_USERS="true", **production)
    assert refused.returncode == 2
    assert "SEED_USERS" in refused.stdout + refused.stderr
    assert count(db, "users") == 0


def test_openapi_command_writes_the_spec(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = bazaar("openapi", "--output", str(out), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = json.loads(out.read_text())
    assert "/api/auth/login" in spec["paths"]
    assert "/api/marketplace/offers/{ref}/accept" in spec["paths"]


def test_committed_openapi_json_is_current(tmp_path: Path) -> None:
    """`openapi.json` in the repo is what `bazaar openapi` writes (run `make openapi`)."""
    out = tmp_path / "openapi.json"
    assert bazaar("openapi", "--output", str(out), data_dir=tmp_path).returncode == 0
    committed = Path(__file__).resolve().parents[1] / "openapi.json"
    assert json.loads(committed.read_text()) == json.loads(out.read_text())
