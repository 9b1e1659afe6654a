"""A commit checked out into a temporary git worktree, removed afterwards.

The benchmarks run a commit's server from its worktree (PYTHONPATH=<worktree>/src, this
venv's packages), so files being edited in the main working tree cannot disturb them.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str:
    for attempt in range(20):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
        if "index.lock" not in done.stderr or attempt == 19:
            raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        time.sleep(0.5)  # another process is committing
    raise AssertionError("unreachable")


def resolve(rev: str) -> str:
    return git("rev-parse", "--verify", f"{rev}^{{commit}}")


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[tuple[Path, str]]:
    """Yield (worktree path, full commit hash) of `rev`."""
    sha = resolve(rev)
    path = Path(tempfile.gettempdir()) / f"bazaar-{sha[:7]}-{secrets.token_hex(3)}"
    git("worktree", "add", "--detach", str(path), sha)
    try:
        yield path, sha
    finally:
        git("worktree", "remove", "--force", str(path))
