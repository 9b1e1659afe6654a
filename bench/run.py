"""`python -m bench.run` (make bench): requests/s and p50/p99 of authenticated Bazaar reads
beside a bare Starlette app, in one run, on this machine, over loopback only.

For each database (SQLite in a temp DATA_DIR; PostgreSQL + Redis when reachable, in a fresh
temporary database) it runs `bazaar migrate`, starts `bazaar serve` as a subprocess with
production settings (JSON access logs on, rate limits raised), registers a user and an
address through the API, then loads `GET /api/auth/me` and `GET /api/address` with
50 concurrent keep-alive clients for a bounded time each. The bare app (bench/bare_app.py)
answers the very same bytes, served by uvicorn the same way. Results go to
docs/performance.md between the bench markers; the prose around them is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import loadgen
from bench.common import add_server_options, pg_execute, replace_block

ROOT = Path(__file__).resolve().parents[1]
REPORT_LUA = Path(__file__).with_name("report.lua")
PATHS = ("/api/auth/me", "/api/address")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
RAISED_LIMIT = "1000000000/15 minutes"


@dataclass
class Result:
    target: str
    path: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    failures: int
    cpu_ms: float  # server CPU time (all threads) per request
    peak_rss_mb: float  # server's peak resident memory so far (VmHWM)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a process so far, in MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bazaar_command() -> str:
    beside = Path(sys.executable).with_name("bazaar")
    found = str(beside) if beside.exists() else shutil.which("bazaar")
    if not found:
        raise SystemExit("the `bazaar` command is not installed (make install)")
    return found


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early; its log:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise SystemExit(
        f"server did not answer within {seconds}s; its log:\n{log.read_text()[-4000:]}"
    )


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], workdir: Path, probe: str) -> Iterator[int]:
    """Start a server subprocess; yield its pid; stop it (SIGTERM, then SIGKILL)."""
    log = workdir / f"server-{int(time.time() * 1000)}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(probe, process, log)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def load(
    tool: str, url: str, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, int]:
    if tool == "wrk":
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
        ]
        command += ["-s", str(REPORT_LUA)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run(command + [url], capture_output=True, text=True)
        output = done.stdout
        if done.returncode != 0:
            raise SystemExit(f"wrk failed: {done.stderr or output}")
        match = re.search(r"^BENCH_JSON (.*)$", output, re.M)
        if not match:
            raise SystemExit(f"unexpected wrk output:\n{output}")
        return json.loads(match.group(1))  # type: ignore[no-any-return]
    return loadgen.measure(url, headers, connections, seconds)


def measure(
    target: str,
    base: str,
    pid: int,
    headers: dict[str, str],
    tool: str,
    connections: int,
    seconds: float,
) -> list[Result]:
    results = []
    for path in PATHS:
        load(tool, base + path, headers, connections, min(3.0, seconds))  # warm-up, not kept
        cpu_before = cpu_seconds(pid)
        raw = load(tool, base + path, headers, connections, seconds)
        cpu_used = cpu_seconds(pid) - cpu_before
        failures = sum(
            raw[k] for k in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
        )
        results.append(
            Result(
                target=target,
                path=path,
                rps=raw["requests"] / (raw["duration_us"] / 1e6),
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                requests=raw["requests"],
                failures=failures,
                cpu_ms=1000 * cpu_used / max(1, raw["requests"]),
                peak_rss_mb=peak_rss_mb(pid),
            )
        )
        last = results[-1]
        print(
            f"  {target:<26} {path:<14} {last.rps:9.0f} req/s  p50 {last.p50_ms:6.2f} ms  "
            f"p99 {last.p99_ms:6.2f} ms  CPU {last.cpu_ms:5.2f} ms/req  "
            f"peak RSS {last.peak_rss_mb:5.0f} MiB  failures {failures}",
            flush=True,
        )
    return results


def prepare_user(base: str) -> tuple[dict[str, str], dict[str, str]]:
    """Register one user and one address through the API; return auth headers and bodies."""
    with httpx.Client(base_url=base, timeout=30) as client:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        registered = client.post(
            "/api/auth/register",
            json={"email": email, "password": "bench-Passw0rd-long", "name": "Bench User"},
        )
        if registered.status_code != 201:
            raise SystemExit(f"register failed: {registered.status_code} {registered.text}")
        token = registered.json()["data"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        address = client.post(
            "/api/address",
            headers=headers,
            json={
                "label": "Home",
                "fullName": "Bench User",
                "line1": "1 Loopback Lane",
                "city": "Localhost",
                "postalCode": "12345",
                "country": "DE",
            },
        )
        if address.status_code != 201:
            raise SystemExit(f"creating the address failed: {address.status_code} {address.text}")
        bodies = {}
        for path in PATHS:
            answer = client.get(path, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"GET {path} failed: {answer.status_code} {answer.text}")
            bodies[path] = answer.text
    return headers, bodies


def base_env(workdir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PG_", "REDIS_", "RATE_LIMIT_"))
    }
    env.update(
        {
            "NODE_ENV": "production",
            "JWT_SECRET": secrets.token_hex(32),
            "LOG_LEVEL": "INFO",
            "DATA_DIR": str(workdir),
            "WORKER_IN_PROCESS": "false",
            "SEED_USERS": "false",
            **{f"RATE_LIMIT_{k}": RAISED_LIMIT for k in ("AUTH", "PAYMENT", "AI", "GLOBAL")},
        }
    )
    return env


def pg_available(admin_url: str) -> bool:
    try:
        asyncio.run(pg_execute(admin_url, "SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False
    return True


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


def bench_bazaar(
    label: str, extra_env: dict[str, str], tool: str, connections: int, seconds: float
) -> tuple[list[Result], dict[str, str], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-") as tmp:
        workdir = Path(tmp)
        env = base_env(workdir) | extra_env
        subprocess.run(
            [bazaar_command(), "migrate"], env=env, cwd=workdir, check=True, capture_output=True
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [bazaar_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with running(command, env, workdir, base + "/health") as pid:
            headers, bodies = prepare_user(base)
            print(f"{label}: measuring", flush=True)
            results = measure(label, base, pid, headers, tool, connections, seconds)
    return results, headers, bodies


BARE = "bare Starlette"
FLOOR = "FastAPI, same bytes"


def bench_bare(
    bodies: dict[str, str],
    headers: dict[str, str],
    tool: str,
    connections: int,
    seconds: float,
    label: str = BARE,
    module: str = "bench.bare_app:app",
) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-bare-") as tmp:
        workdir = Path(tmp)
        source = workdir / "bodies.json"
        source.write_text(json.dumps(bodies))
        port = free_port()
        env = dict(os.environ, BENCH_BARE_BODIES=str(source), PYTHONPATH=str(ROOT))
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        base = f"http://127.0.0.1:{port}"
        with running(command, env, workdir, base + PATHS[0]) as pid:
            print(f"{label}: measuring", flush=True)
            return measure(label, base, pid, headers, tool, connections, seconds)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import uvicorn

    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__}, {platform.system()} {platform.release()}"
    )


def render(
    results: list[Result], tool: str, connections: int, seconds: float, notes: list[str]
) -> str:
    bare = {r.path: r for r in results if r.target == BARE}
    lines = [
        BEGIN,
        f"Run: `python -m bench.run` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}.",
        f"Load: {'wrk 1 thread' if tool == 'wrk' else 'bench/loadgen.py (asyncio)'}, "
        f"{connections} keep-alive connections, {seconds:g} s per row after a warm-up.",
        "",
        "| target | path | req/s | p50 ms | p90 ms | p99 ms | vs bare | CPU ms/req "
        "| peak RSS MiB | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = r.rps / bare[r.path].rps if r.path in bare else 0
        lines.append(
            f"| {r.target} | `GET {r.path}` | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | "
            f"{r.p99_ms:.2f} | {ratio:.2f} | {r.cpu_ms:.2f} | {r.peak_rss_mb:.0f} | {r.failures} |"
        )
    lines += ["", *notes, END]
    return "\n".join(lines)


def write_report(out: Path, block: str) -> None:
    if not replace_block(out, BEGIN, END, block):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Performance\n\n{block}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    add_server_options(parser)
    args = parser.parse_args(argv)
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --tool python")
    print(f"load generator: {tool}", flush=True)

    results: list[Result] = []
    notes: list[str] = []
    load_before = os.getloadavg()[0]
    sqlite_results, headers, bodies = bench_bazaar(
        "Bazaar (SQLite)", {}, tool, args.connections, args.seconds
    )
    results += sqlite_results
    if not args.skip_postgresql and pg_available(args.pg_admin_url):
        name = f"bazaar_bench_{secrets.token_hex(5)}"
        asyncio.run(pg_execute(args.pg_admin_url, f'CREATE DATABASE "{name}"'))
        try:
            extra = {"PG_URL": args.pg_admin_url.rsplit("/", 1)[0] + "/" + name}
            label = "Bazaar (PostgreSQL)"
            if redis_available(args.redis_url):
                extra |= {"REDIS_URI": args.redis_url, "RATE_LIMIT_PREFIX": f"bench-{name}"}
                label = "Bazaar (PostgreSQL+Redis)"
            pg_results, _, _ = bench_bazaar(label, extra, tool, args.connections, args.seconds)
            results += pg_results
        finally:
            asyncio.run(
                pg_execute(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )
    else:
        notes.append("PostgreSQL was not reachable (or skipped): SQLite only.")
    results += bench_bare(bodies, headers, tool, args.connections, args.seconds)
    results += bench_bare(
        bodies,
        headers,
        tool,
        args.connections,
        args.seconds,
        label=FLOOR,
        module="bench.fastapi_floor:app",
    )
    notes.append(
        f"Load average (1 min) {load_before:.2f} before the run and {os.getloadavg()[0]:.2f} "
        "after it: other work on the machine takes cores from the server and from wrk alike."
    )
    block = render(results, tool, args.connections, args.seconds, notes)
    write_report(args.out, block)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
