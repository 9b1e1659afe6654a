"""`python -m bench.marketplace`: `GET /api/marketplace/requests` over 10 000 requests.

For SQLite (temp DATA_DIR) and PostgreSQL (a fresh temporary database, with Redis when it
answers) it migrates, bulk-loads bench/seed_marketplace.py's data set, starts `bazaar serve`
with bench/run.py's production settings (rate limits raised), and loads four listings with
50 keep-alive clients for a bounded time each, anonymous and signed in: the default page,
a full-text search, a category + budget + `ending_soon` filter and page 200. Afterwards, in
this process, it counts the SQL statements of each listing at two page sizes and times
each statement on its own (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
Results go to docs/performance.md between the marketplace markers; plans to --plans.

Run it under the shared benchmark lock so no other measurement overlaps:
    flock /tmp/bazaar-bench.lock .venv/bin/python -m bench.marketplace
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database
from bench import servers
from bench.breakdown import bazaar_settings
from bench.common import add_server_options, pg_execute, replace_block
from bench.seed_marketplace import Seeded, seed

LISTING = "/api/marketplace/requests"
# (name, query string of a page of 20); `limit` is swapped when counting statements.
SCENARIOS = [
    ("default list", "limit=20"),
    ("search `q=vintage`", "q=vintage&limit=20"),
    ("electronics + subs, budget 50–500, ending_soon",
     "categoryId=electronics&budgetMin=50&budgetMax=500&sort=ending_soon&limit=20"),
    ("deep page 200", "page=200&limit=20"),
]  # fmt: skip
VIEWERS = ("anonymous", "signed-in")
BEGIN, END = "<!-- marketplace:begin -->", "<!-- marketplace:end -->"
HEADING = "## Marketplace listing (10 000 requests)"
TIMING_RUNS = 15
EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")
STATEMENT_KINDS = ("category", "total (count)", "page rows", "offer counts")


@dataclass
class Row:
    scenario: str
    viewer: str
    result: servers.Result


@dataclass
class Statement:
    kind: str
    sql: str
    params: Any
    median_ms: float = 0.0
    plan: str = ""


@dataclass
class Check:
    """What one listing sends to the database, and how many requests it matched."""

    scenario: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # "anonymous 20" -> statements
    statements: list[Statement] = field(default_factory=list)  # anonymous, limit 20


@dataclass
class Backend:
    label: str
    seeded: Seeded
    rows: list[Row]
    checks: list[Check]


def measure_row(
    label: str, scenario: str, viewer: str, url: str, pid: int, headers: dict[str, str],
    args: argparse.Namespace,
) -> Row:  # fmt: skip
    servers.load("wrk", url, headers, args.connections, min(3.0, args.seconds))  # warm-up
    cpu_before = servers.cpu_seconds(pid)
    raw = servers.load("wrk", url, headers, args.connections, args.seconds)
    cpu_used = servers.cpu_seconds(pid) - cpu_before
    errors = ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
    result = servers.Result(
        target=label,
        path=url,
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=raw["requests"],
        failures=sum(raw[k] for k in errors),
        cpu_ms=1000 * cpu_used / max(1, raw["requests"]),
        peak_rss_mb=servers.peak_rss_mb(pid),
    )
    print(
        f"  {label:<16} {scenario:<46} {viewer:<9} {result.rps:6.0f} req/s  "
        f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
        f"CPU {result.cpu_ms:5.2f} ms/req  failed {result.failures}",
        flush=True,
    )
    return Row(scenario, viewer, result)


def kind_of(sql: str) -> str:
    text = " ".join(sql.split()).lower()
    if text.split(" ", 1)[0] in ("begin", "commit", "rollback"):
        return "transaction"
    if text.startswith("select count(*)") and "from (select" in text:
        return "total (count)"
    if "from seller_offers" in text:
        return "offer counts"
    if "from categories" in text:
        return "category"
    if "from users" in text:
        return "viewer (auth)"
    if "from purchase_requests" in text:
        return "page rows"
    return text[:40]


async def time_statement(db: Database, statement: Statement) -> None:
    """Median wall time of the statement run alone on one connection, and its plan."""
    async with db.engine.connect() as conn:
        durations = []
        for _ in range(TIMING_RUNS):
            started = time.perf_counter()
            await conn.exec_driver_sql(statement.sql, statement.params)
            durations.append(time.perf_counter() - started)
        statement.median_ms = statistics.median(durations) * 1000
        if db.backend == "postgresql":
            explain = "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql
            lines = (await conn.exec_driver_sql(explain, statement.params)).all()
            statement.plan = "\n".join(str(line[0]) for line in lines)
        else:
            explain = "EXPLAIN QUERY PLAN " + statement.sql
            steps = (await conn.exec_driver_sql(explain, statement.params)).mappings().all()
            statement.plan = "\n".join(str(step["detail"]) for step in steps)
        await conn.rollback()


async def check_statements(settings: Settings) -> list[Check]:
    """Count each listing's statements in-process (write and read engines both), then
    time every statement of the anonymous page of 20 on its own."""
    from bazaar.main import create_app

    db = Database(settings)
    app = create_app(settings, database=db)
    captured: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        captured.append((sql, params))

    engines = {engine.sync_engine for engine in db.engines}
    checks = [Check(scenario=name) for name, _ in SCENARIOS]
    try:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                answer = await client.post(
                    "/api/auth/register",
                    json={
                        "email": "count@example.com",
                        "password": "bench-Passw0rd-long",
                        "name": "C",
                    },
                )
                token = answer.json()["data"]["accessToken"]
                headers = {"anonymous": {}, "signed-in": {"Authorization": f"Bearer {token}"}}
                for engine in engines:
                    sa.event.listen(engine, "before_cursor_execute", listen)
                try:
                    for check, (_, query) in zip(checks, SCENARIOS, strict=True):
                        for viewer in VIEWERS:
                            for limit in (20, 100):
                                captured.clear()
                                url = f"{LISTING}?{query.replace('limit=20', f'limit={limit}')}"
                                response = await client.get(url, headers=headers[viewer])
                                if response.status_code != 200:
                                    raise SystemExit(f"GET {url}: {response.text}")
                                check.counts[f"{viewer} {limit}"] = len(captured)
                                if viewer == "anonymous" and limit == 20:
                                    check.total = response.json()["data"]["pagination"]["total"]
                                    check.statements = [
                                        Statement(kind_of(sql), sql, params)
                                        for sql, params in captured
                                    ]
                finally:
                    for engine in engines:
                        sa.event.remove(engine, "before_cursor_execute", listen)
        for check in checks:
            for statement in check.statements:
                if statement.kind != "transaction":
                    await time_statement(db, statement)
    finally:
        await db.dispose()
    return checks


async def load_data(settings: Settings, requests: int, offers: int) -> Seeded:
    db = Database(settings)
    try:
        seeded = await seed(db, requests, offers)
        if db.backend == "sqlite":
            # The FTS5 insert trigger indexed every request (docsize: one row per document).
            async with db.engine.connect() as conn:
                query = sa.text("SELECT count(*) FROM purchase_requests_fts_docsize")
                indexed = (await conn.execute(query)).scalar_one()
            if indexed != seeded.requests:
                raise SystemExit(f"FTS index holds {indexed} rows, not {seeded.requests}")
        return seeded
    finally:
        await db.dispose()


def bench_backend(
    label: str, extra_env: dict[str, str], pg_url: str | None, args: argparse.Namespace
) -> Backend:
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-market-") as tmp:
        workdir = Path(tmp)
        env = servers.bazaar_env(workdir, **extra_env)
        servers.migrate(env, workdir)
        # In-process checks log warnings only (the served app keeps its access log).
        settings = bazaar_settings(workdir, pg_url, None).model_copy(
            update={"log_level": "WARNING"}
        )
        seeded = asyncio.run(load_data(settings, args.requests, args.offers))
        print(
            f"{label}: seeded {seeded.requests} requests ({seeded.open_requests} open) and "
            f"{seeded.offers} offers in {seeded.seconds:.1f} s",
            flush=True,
        )
        port = servers.free_port()
        base = f"http://127.0.0.1:{port}"
        command = servers.serve_command(port)
        rows = []
        with servers.running(command, env, workdir, base + "/health") as pid:
            auth, _ = servers.prepare_user(base)
            for name, query in SCENARIOS:
                for viewer in VIEWERS:
                    headers = auth if viewer == "signed-in" else {}
                    url = f"{base}{LISTING}?{query}"
                    rows.append(measure_row(label, name, viewer, url, pid, headers, args))
        checks = asyncio.run(check_statements(settings))
    return Backend(label, seeded, rows, checks)


def render(backends: list[Backend], args: argparse.Namespace, load: tuple[float, float]) -> str:
    data = backends[0].seeded
    statuses = ", ".join(f"{k} {v:,}" for k, v in data.statuses.items())
    lines = [
        BEGIN,
        f"Run: `flock /tmp/bazaar-bench.lock .venv/bin/python -m bench.marketplace` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {servers.machine()}.",
        f"Data: {data.requests:,} requests ({statuses}), {data.offers:,} offers "
        f"({data.live_offers:,} live), {data.categories} categories, {data.users} users. "
        f"Load: wrk 1 thread, {args.connections} keep-alive connections, {args.seconds:g} s "
        f"per row after a 3 s warm-up. Load average (1 min) {load[0]:.2f} before the run, "
        f"{load[1]:.2f} after.",
        "",
        "| database | listing | viewer | matches | req/s | p50 ms | p99 ms | CPU ms/req | failed |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in backends:
        totals = {c.scenario: c.total for c in backend.checks}
        for row in backend.rows:
            r = row.result
            # No answer at all in the window: latencies and CPU per request mean nothing.
            timing = (
                f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.cpu_ms:.2f}" if r.requests else "– | – | –"
            )
            lines.append(
                f"| {backend.label} | {row.scenario} | {row.viewer} | {totals[row.scenario]:,} | "
                f"{r.rps:,.0f} | {timing} | {r.failures} |"
            )
    lines += [
        "",
        "SQL statements per listing call at `limit=20` / `limit=100`, and the median time in "
        f"ms of each statement of the anonymous page of 20, run alone {TIMING_RUNS} times "
        "from Python (in parentheses on PostgreSQL: execution time inside the server, from "
        "EXPLAIN ANALYZE):",
        "",
        "| database | listing | statements, anonymous | statements, signed in | "
        + " | ".join(STATEMENT_KINDS)
        + " |",
        "|---|---|---|---|" + "---:|" * len(STATEMENT_KINDS),
    ]
    for backend in backends:
        for check in backend.checks:
            c = check.counts
            cells = " | ".join(_timing(check, kind) for kind in STATEMENT_KINDS)
            lines.append(
                f"| {backend.label} | {check.scenario} | {c['anonymous 20']} / "
                f"{c['anonymous 100']} | {c['signed-in 20']} / {c['signed-in 100']} | {cells} |"
            )
    lines.append(END)
    return "\n".join(lines)


def _timing(check: Check, kind: str) -> str:
    """Median wall ms of the statements of one kind (summed), and on PostgreSQL the
    server's own execution time from EXPLAIN ANALYZE in parentheses."""
    found = [s for s in check.statements if s.kind == kind]
    if not found:
        return "–"
    text = f"{sum(s.median_ms for s in found):.2f}"
    executed = [float(m.group(1)) for s in found if (m := EXECUTION.search(s.plan))]
    return text + (f" ({sum(executed):.2f})" if executed else "")


def write_section(out: Path, block: str) -> None:
    """Replace only our block; the file is re-read here, so others' edits are kept."""
    if not replace_block(out, BEGIN, END, block):
        text = out.read_text() if out.exists() else "# Performance\n"
        out.write_text(text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n")


def write_plans(backends: list[Backend], path: Path) -> None:
    chunks = [
        f"== {backend.label} | {check.scenario} | {s.kind} | {s.median_ms:.2f} ms\n"
        f"{s.sql}\n{s.params!r}\n\n{s.plan}\n"
        for backend in backends
        for check in backend.checks
        for s in check.statements
        if s.plan
    ]
    path.write_text("\n".join(chunks))
    print(f"query plans written to {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.marketplace", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10_000, help="purchase requests")
    parser.add_argument("--offers", type=int, default=4_000)
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--out", type=Path, default=servers.ROOT / "docs" / "performance.md")
    parser.add_argument(
        "--plans", type=Path, default=Path(tempfile.gettempdir()) / "bazaar-marketplace-plans.txt"
    )
    add_server_options(parser)
    args = parser.parse_args(argv)
    # bench/loadgen.py sends the path without its query string: only wrk can load these.
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install -y wrk)")
    load_before = os.getloadavg()[0]
    backends = [bench_backend("SQLite", {}, None, args)] if args.backend != "postgresql" else []
    if args.backend != "sqlite" and servers.pg_available(args.pg_admin_url):
        name = f"bazaar_bench_{secrets.token_hex(5)}"
        asyncio.run(pg_execute(args.pg_admin_url, f'CREATE DATABASE "{name}"'))
        try:
            pg_url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + name
            extra = {"PG_URL": pg_url}
            label = "PostgreSQL"
            if servers.redis_available(args.redis_url):
                extra |= {"REDIS_URI": args.redis_url, "RATE_LIMIT_PREFIX": f"bench-{name}"}
                label = "PostgreSQL+Redis"
            backends.append(bench_backend(label, extra, pg_url, args))
        finally:
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            asyncio.run(pg_execute(args.pg_admin_url, drop))
    block = render(backends, args, (load_before, os.getloadavg()[0]))
    write_plans(backends, args.plans)
    write_section(args.out, block)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
