"""The Express 5 peer (bench/peer/server.js): installing it, serving it, checking its answers.

It serves GET /api/auth/me and GET /api/address over the PostgreSQL database Bazaar has just
been measured on, with Bazaar's JWT secret, so the same token and rows are read by both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.servers import free_port, running

PEER_DIR = Path(__file__).with_name("peer")
LABEL = "Express 5 peer (PostgreSQL)"


def ensure_installed() -> None:
    """`npm ci` when node_modules is missing (package-lock.json is committed)."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise SystemExit("node and npm are needed for the Express peer (or --skip-peer)")
    if (PEER_DIR / "node_modules").is_dir():
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"npm ci failed in {PEER_DIR}:\n{done.stderr[-4000:]}")


def node_version() -> str:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lock = json.loads((PEER_DIR / "package-lock.json").read_text())["packages"]
    express = lock.get("node_modules/express", {}).get("version", "?")
    return f"Node {node}, Express {express}"


@contextlib.contextmanager
def serving(pg_url: str, jwt_secret: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """Start the peer; yield (base URL, pid)."""
    ensure_installed()
    port = free_port()
    env = dict(
        os.environ, PG_URL=pg_url, JWT_SECRET=jwt_secret, PORT=str(port), NODE_ENV="production"
    )
    base = f"http://127.0.0.1:{port}"
    with running(["node", str(PEER_DIR / "server.js")], env, workdir, base + "/health") as pid:
        yield base, pid


_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _normalized(value: Any) -> Any:
    """Timestamps cut to milliseconds (JavaScript dates hold no more), recursively."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str) and (match := _ISO.match(value)):
        fraction = (match.group(2) or ".")[1:4].ljust(3, "0")
        return f"{match.group(1)}.{fraction}Z"
    return value


def differences(bazaar_body: str, peer_body: str) -> list[str]:
    """Where the peer's JSON differs from Bazaar's (timestamps compared to the ms)."""
    ours, theirs = _normalized(json.loads(bazaar_body)), _normalized(json.loads(peer_body))
    if ours == theirs:
        return []
    return [
        f"Bazaar {json.dumps(ours, sort_keys=True)}",
        f"peer   {json.dumps(theirs, sort_keys=True)}",
    ]
