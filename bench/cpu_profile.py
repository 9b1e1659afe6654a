"""`python -m bench.cpu_profile [COMMIT...]`: where a served request's CPU goes, by library.

Each commit (default HEAD) is served from a temporary git worktree as bench.compare does
(PostgreSQL+Redis by default), warmed up, then loaded with wrk on one path while py-spy
samples the server (`py-spy record --format raw --nonblocking`, which does not pause it).
Every sample goes to the innermost frame that is not the standard library — the JSON
encoder called by pydantic counts as pydantic, a socket write called by uvicorn as uvicorn —
and samples with standard-library frames only are the event loop's own work. Shares times
the measured CPU ms/req give milliseconds per request per library, comparable between
commits. SQLAlchemy runs statements in greenlets, whose stacks py-spy shows apart from the
request's: only per-library self time is reliable, not "time under this function".

py-spy is not a project dependency: `pip install py-spy` (any location; --py-spy PATH).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import worktree
from bench.common import add_server_options, replace_block
from bench.compare import Side, start
from bench.servers import WARM_UP_SECONDS, Result, load, machine, redis_available, window

BEGIN, END = "<!-- profile:begin -->", "<!-- profile:end -->"
STDLIB = set(sys.stdlib_module_names) | {"<string>"}
# Top-level package (or Bazaar module) of a frame -> the group it is reported under.
GROUPS = {
    "asyncpg": "database driver (asyncpg, sqlite3)",
    "aiosqlite": "database driver (asyncpg, sqlite3)",
    "sqlite3": "database driver (asyncpg, sqlite3)",
    "sqlalchemy": "SQLAlchemy (session, ORM, engine)",
    "greenlet": "SQLAlchemy (session, ORM, engine)",
    "fastapi": "FastAPI (routing, dependencies, responses)",
    "starlette": "Starlette (middleware, routing)",
    "pydantic": "pydantic (validation, serialization)",
    "pydantic_core": "pydantic (validation, serialization)",
    "uvicorn": "uvicorn, httptools (HTTP)",
    "httptools": "uvicorn, httptools (HTTP)",
    "uvloop": "event loop",
    "structlog": "access log (structlog)",
    "redis": "rate-limit counters (redis-py, kit/counters)",
    "bazaar/kit/counters.py": "rate-limit counters (redis-py, kit/counters)",
    "jwt": "JWT (PyJWT)",
    "prometheus_client": "metrics (prometheus_client)",
    "limits": "rate-limit counters (redis-py, kit/counters)",
    "anyio": "anyio (cancel scopes)",
    "sniffio": "anyio (cancel scopes)",
    # py-spy shortens opentelemetry/<module>/... to <module>/... (FastAPI's telemetry hooks)
    "opentelemetry": "OpenTelemetry (FastAPI's telemetry hooks)",
    "context": "OpenTelemetry (FastAPI's telemetry hooks)",
    "_logs": "OpenTelemetry (FastAPI's telemetry hooks)",
    "metrics": "OpenTelemetry (FastAPI's telemetry hooks)",
    "trace": "OpenTelemetry (FastAPI's telemetry hooks)",
}
FRAME_FILE = re.compile(r"\(([^()]*?)(?::\d+)?\)$")


def group_of(frame: str) -> str | None:
    """The group of one collapsed-stack frame `func (path/file.py:line)`; None for the
    standard library."""
    if "<sqlalchemy generated" in frame:
        return GROUPS["sqlalchemy"]
    match = FRAME_FILE.search(frame)
    path = match.group(1) if match else ""
    top = path.split("/", 1)[0].removesuffix(".py")
    if not path or top in STDLIB or path.startswith("<frozen"):
        return None
    if top == "bazaar":
        return GROUPS.get(path, "Bazaar's own code")
    return GROUPS.get(top, f"other ({top})")


def attribute(raw: Path) -> collections.Counter[str]:
    """Samples per group, from py-spy's raw (collapsed stacks) output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        group = next(
            (g for f in reversed(stack.split(";")) if (g := group_of(f)) is not None),
            "event loop",
        )
        counts[group] += int(n)
    return counts


def profile(
    side: Side, args: argparse.Namespace, py_spy: str
) -> tuple[Result, collections.Counter[str]]:
    redis = {"REDIS_URI": args.redis_url} if redis_available(args.redis_url) else {}
    pg_admin = None if args.backend == "sqlite" else args.pg_admin_url
    with contextlib.ExitStack() as stack:
        start(stack, side, redis if pg_admin else {}, pg_admin)
        load("wrk", side.base + args.path, side.headers, args.connections, WARM_UP_SECONDS)
        raw = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "stacks.txt"
        command = [py_spy, "record", "--format", "raw", "--nonblocking", "--rate", "250"]
        spy = subprocess.Popen(
            [*command, "--pid", str(side.pid), "-o", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        result = window(
            side.sha[:7],
            side.base,
            args.path,
            side.pid,
            side.headers,
            "wrk",
            args.connections,
            args.seconds,
        )
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
        if args.raw:
            args.raw.mkdir(parents=True, exist_ok=True)
            shutil.copy(raw, args.raw / f"{side.sha[:7]}.txt")
        return result, attribute(raw)


def render(
    profiles: list[tuple[Result, collections.Counter[str]]], args: argparse.Namespace
) -> str:
    groups = collections.Counter[str]()
    for _, counts in profiles:
        groups.update({g: n / counts.total() for g, n in counts.items()})
    database = "SQLite" if args.backend == "sqlite" else "PostgreSQL+Redis"
    head = " | ".join(f"{r.target}: share | ms/req" for r, _ in profiles)
    lines = [
        BEGIN,
        f"Run: `python -m bench.cpu_profile {' '.join(args.commits)}"
        f"{' --backend sqlite' if args.backend == 'sqlite' else ''}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}. `GET {args.path}` on "
        f"{database}, wrk {args.connections} connections, {args.seconds:g} s, py-spy at 250 Hz.",
        "",
        f"| where the CPU goes | {head} |",
        "|---|" + "---:|---:|" * len(profiles),
    ]
    for group, _ in groups.most_common():
        cells = []
        for result, counts in profiles:
            share = counts[group] / counts.total()
            cells.append(f"{100 * share:.1f} % | {share * result.cpu_ms:.3f}")
        lines.append(f"| {group} | {' | '.join(cells)} |")
    total = " | ".join(f"100 % | {r.cpu_ms:.3f}" for r, _ in profiles)
    lines += [f"| **CPU per request (measured)** | {total} |", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cpu_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("commits", nargs="*", default=["HEAD"])
    parser.add_argument("--path", default="/api/auth/me")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary")
    parser.add_argument("--out", type=Path, help="write the table into this file's markers")
    parser.add_argument("--raw", type=Path, help="keep py-spy's stacks here (<commit>.txt)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    if not args.py_spy:
        raise SystemExit("py-spy not found: pip install py-spy, or pass --py-spy PATH")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install -y wrk)")
    profiles = []
    for commit in args.commits:
        with worktree.checkout(commit) as (tree, sha):
            profiles.append(profile(Side(commit, sha, tree / "src"), args, args.py_spy))
            print(f"{sha[:7]}: {profiles[-1][0].cpu_ms:.3f} ms/req", flush=True)
    block = render(profiles, args)
    print("\n" + block)
    if args.out and not replace_block(args.out, BEGIN, END, block):
        raise SystemExit(f"{args.out} has no {BEGIN} … {END} markers")


if __name__ == "__main__":
    main()
