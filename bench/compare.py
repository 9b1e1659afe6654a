"""`python -m bench.compare OLD [NEW]`: CPU per request of two commits, measured interleaved.

Both commits are checked out into temporary git worktrees (NEW defaults to HEAD) and served
side by side, each from its own worktree's src/ with this venv's packages, each on its own
database migrated by its own `bazaar migrate` (SQLite in its own DATA_DIR; PostgreSQL in its
own temporary database, Redis with its own key prefix), with bench.run's production settings.
Each registers its own user and address through its API. After a warm-up, every round loads
`GET /api/auth/me` and `GET /api/address` on one server then the other (the order alternates
between rounds), so slow phases of a busy machine hit both. A round's new/old ratio compares
two windows seconds apart; the report gives the median over rounds and their range.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import worktree
from bench.common import add_server_options, replace_block
from bench.servers import (
    PATHS,
    WARM_UP_SECONDS,
    Result,
    bazaar_env,
    free_port,
    load,
    load_tool,
    machine,
    migrate,
    pg_available,
    pg_database,
    prepare_user,
    redis_available,
    running,
    serve_command,
    summary,
    window,
)

BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"


@dataclass
class Side:
    name: str  # "old" / "new"
    sha: str
    src: Path
    base: str = ""
    pid: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    database: str
    path: str
    old: list[Result]
    new: list[Result]

    def median(self, side: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in getattr(self, side))

    @property
    def ratios(self) -> list[float]:
        return [n.cpu_ms / o.cpu_ms for o, n in zip(self.old, self.new, strict=True)]


def start(
    stack: contextlib.ExitStack, side: Side, extra: dict[str, str], pg_admin_url: str | None
) -> None:
    """Serve one commit on its own fresh database (SQLite without `pg_admin_url`); register
    its user."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bazaar-cmp-")))
    env = bazaar_env(workdir, side.src, **extra)
    if pg_admin_url:
        env["PG_URL"] = stack.enter_context(pg_database(pg_admin_url))
        env["RATE_LIMIT_PREFIX"] = f"bench-{side.name}-{env['PG_URL'][-10:]}"
    migrate(env, workdir, side.src)
    port = free_port()
    side.base = f"http://127.0.0.1:{port}"
    side.pid = stack.enter_context(
        running(serve_command(port, side.src), env, workdir, side.base + "/health")
    )
    side.headers, _ = prepare_user(side.base)


def compare(
    database: str,
    sides: tuple[Side, Side],
    extra: dict[str, str],
    pg_admin_url: str | None,
    args: argparse.Namespace,
    tool: str,
) -> list[Row]:
    rows = {path: Row(database, path, [], []) for path in PATHS}
    with contextlib.ExitStack() as stack:
        for side in sides:
            start(stack, side, extra, pg_admin_url)
        print(f"{database}: warming up", flush=True)
        for side in sides:
            for path in PATHS:
                load(tool, side.base + path, side.headers, args.connections, WARM_UP_SECONDS)
        for round_no in range(args.rounds):
            order = sides if round_no % 2 == 0 else sides[::-1]
            for path in PATHS:
                for side in order:
                    label = f"{database} {side.name} {side.sha[:7]}"
                    result = window(
                        label,
                        side.base,
                        path,
                        side.pid,
                        side.headers,
                        tool,
                        args.connections,
                        args.seconds,
                    )
                    getattr(rows[path], side.name).append(result)
                    print(f"  round {round_no + 1} {summary(result)}", flush=True)
    return list(rows.values())


def render(
    rows: list[Row], sides: tuple[Side, Side], args: argparse.Namespace, tool: str, notes: list[str]
) -> str:
    old, new = sides
    lines = [
        BEGIN,
        f"Run: `python -m bench.compare {args.old} {args.new}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}.",
        f"Old: commit {old.sha[:7]}; new: commit {new.sha[:7]}. "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s per server and path "
        f"({'wrk 1 thread' if tool == 'wrk' else 'bench/loadgen.py'}, "
        f"{args.connections} connections) after a {WARM_UP_SECONDS:g} s warm-up. "
        "CPU ms/req and req/s: median over the rounds; new/old: the median of the rounds' "
        "ratios, with their range.",
        "",
        "| database | path | old CPU ms/req | new CPU ms/req | new/old CPU | range "
        "| old req/s | new req/s | old p99 ms | new p99 ms | failed |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratios = row.ratios
        failed = sum(r.failures for r in row.old + row.new)
        lines.append(
            f"| {row.database} | `GET {row.path}` | {row.median('old', 'cpu_ms'):.2f} | "
            f"{row.median('new', 'cpu_ms'):.2f} | **{statistics.median(ratios):.2f}** | "
            f"{min(ratios):.2f}–{max(ratios):.2f} | {row.median('old', 'rps'):,.0f} | "
            f"{row.median('new', 'rps'):,.0f} | {row.median('old', 'p99_ms'):.1f} | "
            f"{row.median('new', 'p99_ms'):.1f} | {failed} |"
        )
    lines += ["", *notes, END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("old", help="the commit to compare against (e.g. c17f924)")
    parser.add_argument("new", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5, help="seconds per window")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for both servers (e.g. DB_READ_POOL_SIZE=40); repeatable",
    )
    parser.add_argument("--out", type=Path, help="write the table into this file's compare markers")
    add_server_options(parser)
    args = parser.parse_args(argv)
    tool = load_tool(args.tool)
    extra = dict(item.split("=", 1) for item in args.env)
    notes = [f"Both servers with {', '.join(args.env)}."] if args.env else []
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    with (
        worktree.checkout(args.old) as (old_tree, old_sha),
        worktree.checkout(args.new) as (new_tree, new_sha),
    ):
        sides = (Side("old", old_sha, old_tree / "src"), Side("new", new_sha, new_tree / "src"))
        if args.backend != "postgresql":
            rows += compare("SQLite", sides, extra, None, args, tool)
        if args.backend != "sqlite":
            if not pg_available(args.pg_admin_url):
                raise SystemExit(f"PostgreSQL is not reachable at {args.pg_admin_url}")
            pg, label = dict(extra), "PostgreSQL"
            if redis_available(args.redis_url):
                pg["REDIS_URI"] = args.redis_url
                label = "PostgreSQL+Redis"
            rows += compare(label, sides, pg, args.pg_admin_url, args, tool)
    notes.append(
        f"Load average (1 min) {load_before:.2f} before the run and "
        f"{os.getloadavg()[0]:.2f} after it."
    )
    block = render(rows, sides, args, tool, notes)
    print("\n" + block)
    if args.out and not replace_block(args.out, BEGIN, END, block):
        raise SystemExit(f"{args.out} has no {BEGIN} … {END} markers")
    if args.out:
        print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
