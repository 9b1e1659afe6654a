"""`bazaar create-admin` as an operator runs it: a real subprocess on a fresh SQLite dir."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

BAZAAR = str(Path(sys.executable).with_name("bazaar"))


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PG_URL", "REDIS_URI", "NODE_ENV", "APP_ENV", "SEED_USERS")
    }
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [BAZAAR, *args],
        cwd=data_dir,  # no stray .env file is picked up
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_admin_command(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0

    created = run(
        tmp_path, "create-admin", "--email", "ops@example.com", "--password", "Sup3r-secret!"
    )
    assert created.returncode == 0, created.stderr
    assert "created" in created.stderr

    refused = run(tmp_path, "create-admin", "--email", "ops2@example.com", "--password", "short")
    assert refused.returncode == 1
    assert "VALIDATION_FAILED" in refused.stderr

    again = run(
        tmp_path, "create-admin", "--email", "OPS@example.com", "--password", "Sup3r-secret!"
    )
    assert again.returncode == 0, again.stderr

    with sqlite3.connect(tmp_path / "bazaar.db") as conn:
        rows = conn.execute("SELECT email, roles, name FROM users").fetchall()
    assert [(email, json.loads(roles), name) for email, roles, name in rows] == [
        ("ops@example.com", ["admin"], "Administrator")
    ]
