"""`python -m bench.run` (make bench): CPU per request, requests/s and p50/p99 of
authenticated Bazaar reads beside an Express 5 peer doing the same work, in one run, on this
machine, over loopback only.

For each database (SQLite in a temp DATA_DIR; PostgreSQL + Redis when reachable, in a fresh
temporary database) it runs `bazaar migrate`, starts `bazaar serve` as a subprocess with
production settings (JSON access logs on, rate limits raised), registers a user and an
address through the API, then loads `GET /api/auth/me` and `GET /api/address` with
50 concurrent keep-alive clients for a bounded time each. On PostgreSQL the Express peer
(bench/peer/server.js) serves the same two endpoints from the same database beside it, with
the same token; each path is loaded on Bazaar, then on the peer.
A bare Starlette app and plain FastAPI routes answer the very same bytes, for scale.
Results go to docs/performance.md between the bench markers; the prose around them is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import express_peer, worktree
from bench.common import add_server_options, replace_block
from bench.servers import (
    PATHS,
    ROOT,
    Result,
    bazaar_env,
    free_port,
    load_tool,
    machine,
    measure,
    migrate,
    pg_available,
    pg_database,
    prepare_user,
    redis_available,
    running,
    serve_command,
)

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BARE = "bare Starlette"
FLOOR = "FastAPI, same bytes"
PEER = express_peer.LABEL


def bench_bazaar(
    label: str,
    extra_env: dict[str, str],
    src: Path | None,
    tool: str,
    connections: int,
    seconds: float,
    peer: bool = False,
) -> tuple[list[Result], dict[str, str], dict[str, str], list[str]]:
    """Bazaar's rows and, with `peer`, the Express peer's, serving the same database and
    token, measured path by path one after the other; the auth headers, Bazaar's bodies, and
    notes on any answer the peer gave differently."""
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bazaar-bench-")))
        env = bazaar_env(workdir, src, **extra_env)
        migrate(env, workdir, src)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        pid = stack.enter_context(running(serve_command(port, src), env, workdir, base + "/health"))
        headers, bodies = prepare_user(base)
        targets = [(label, base, pid)]
        if peer:
            serving = express_peer.serving(env["PG_URL"], env["JWT_SECRET"], workdir)
            peer_base, peer_pid = stack.enter_context(serving)
            notes += answer_check(peer_base, headers, bodies)
            targets.append((PEER, peer_base, peer_pid))
        print(f"{' and '.join(t[0] for t in targets)}: measuring", flush=True)
        results = measure(targets, headers, tool, connections, seconds)
    return results, headers, bodies, notes


def answer_check(base: str, headers: dict[str, str], bodies: dict[str, str]) -> list[str]:
    """Notes for each path the peer answers differently from Bazaar (printed in full)."""
    notes = []
    for path in PATHS:
        answer = httpx.get(base + path, headers=headers, timeout=10)
        diff = express_peer.differences(bodies[path], answer.text)
        if answer.status_code != 200 or diff:
            print(f"  the peer answers {path} differently:", *diff, sep="\n    ")
            notes.append(f"The Express peer's answer to `GET {path}` differs from Bazaar's.")
    return notes


def bench_static(
    bodies: dict[str, str],
    headers: dict[str, str],
    tool: str,
    connections: int,
    seconds: float,
    label: str,
    module: str,
) -> list[Result]:
    """An app answering Bazaar's stored bodies (bench/bare_app.py, bench/fastapi_floor.py)."""
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-bare-") as tmp:
        workdir = Path(tmp)
        source = workdir / "bodies.json"
        source.write_text(json.dumps(bodies))
        port = free_port()
        env = dict(os.environ, BENCH_BARE_BODIES=str(source), PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1"]
        command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
        base = f"http://127.0.0.1:{port}"
        with running(command, env, workdir, base + PATHS[0]) as pid:
            print(f"{label}: measuring", flush=True)
            return measure([(label, base, pid)], headers, tool, connections, seconds)


def render(
    results: list[Result],
    tool: str,
    connections: int,
    seconds: float,
    code: str,
    notes: list[str],
) -> str:
    peer = {r.path: r for r in results if r.target == PEER}
    lines = [
        BEGIN,
        f"Run: `python -m bench.run` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}, "
        f"{express_peer.node_version()}.",
        f"Code measured: {code}. Load: "
        f"{'wrk 1 thread' if tool == 'wrk' else 'bench/loadgen.py (asyncio)'}, "
        f"{connections} keep-alive connections, {seconds:g} s per row after a warm-up.",
        "",
        "| target | path | req/s | p50 ms | p90 ms | p99 ms | CPU ms/req | CPU vs Express "
        "| peak RSS MiB | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.cpu_ms / peer[r.path].cpu_ms:.2f}" if r.path in peer else "–"
        lines.append(
            f"| {r.target} | `GET {r.path}` | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.cpu_ms:.2f} | {ratio} | {r.peak_rss_mb:.0f} | {r.failures} |"
        )
    ours = [r for r in results if r.target.startswith("Bazaar (PostgreSQL") and r.path in peer]
    if ours:
        lines += ["", f"{ours[0].target} ÷ {PEER}, same database, token and rows:"]
        for r in ours:
            p = peer[r.path]
            lines.append(
                f"`GET {r.path}` CPU per request ×{r.cpu_ms / p.cpu_ms:.2f}, "
                f"requests/s ×{r.rps / p.rps:.2f}, p99 ×{r.p99_ms / p.p99_ms:.2f}."
            )
    lines += ["", *notes, END]
    return "\n".join(lines)


def write_report(out: Path, block: str) -> None:
    if not replace_block(out, BEGIN, END, block):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Performance\n\n{block}\n")


@contextlib.contextmanager
def source(commit: str | None) -> Iterator[tuple[Path | None, str]]:
    """The code to serve: the installed working tree, or a worktree of `commit`."""
    if commit is None:
        yield None, "the working tree"
        return
    with worktree.checkout(commit) as (path, sha):
        yield path / "src", f"commit {sha[:7]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--skip-peer", action="store_true", help="no Express peer rows")
    parser.add_argument(
        "--commit", help="serve this commit from a temporary git worktree (default: working tree)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    add_server_options(parser)
    args = parser.parse_args(argv)
    tool = load_tool(args.tool)
    print(f"load generator: {tool}", flush=True)
    if not args.skip_peer:
        express_peer.ensure_installed()

    results: list[Result] = []
    notes: list[str] = []
    load_before = os.getloadavg()[0]
    run = (tool, args.connections, args.seconds)
    with source(args.commit) as (src, code):
        sqlite_results, headers, bodies, _ = bench_bazaar("Bazaar (SQLite)", {}, src, *run)
        results += sqlite_results
        if not args.skip_postgresql and pg_available(args.pg_admin_url):
            with pg_database(args.pg_admin_url) as pg_url:
                extra = {"PG_URL": pg_url}
                label = "Bazaar (PostgreSQL)"
                if redis_available(args.redis_url):
                    extra |= {"REDIS_URI": args.redis_url, "RATE_LIMIT_PREFIX": pg_url[-10:]}
                    label = "Bazaar (PostgreSQL+Redis)"
                pg_results, _, _, peer_notes = bench_bazaar(
                    label, extra, src, *run, peer=not args.skip_peer
                )
                results += pg_results
                notes += peer_notes
        else:
            notes.append("PostgreSQL was not reachable (or skipped): SQLite only, no peer.")
    results += bench_static(bodies, headers, *run, label=BARE, module="bench.bare_app:app")
    results += bench_static(bodies, headers, *run, label=FLOOR, module="bench.fastapi_floor:app")
    notes.append(
        f"Load average (1 min) {load_before:.2f} before the run and {os.getloadavg()[0]:.2f} "
        "after it: other work on the machine takes cores from the servers and from wrk alike."
    )
    block = render(results, tool, args.connections, args.seconds, code, notes)
    write_report(args.out, block)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
