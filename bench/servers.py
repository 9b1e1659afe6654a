"""Starting the servers the benchmarks measure, loading them, and reading their CPU time.

Every server is a subprocess on 127.0.0.1; its CPU time (all threads, from /proc) divided by
the requests it answered in a load window is "CPU ms/req": unlike requests/s it barely
moves when other work shares the machine.
"""

from __future__ import annotations

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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import loadgen
from bench.common import pg_execute

ROOT = Path(__file__).resolve().parents[1]
REPORT_LUA = Path(__file__).with_name("report.lua")
PATHS = ("/api/auth/me", "/api/address")
RAISED_LIMIT = "1000000000/15 minutes"
WARM_UP_SECONDS = 3.0


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


def bazaar_command(src: Path | None = None) -> list[str]:
    """The `bazaar` command: the installed one, or the package under `src` (a worktree's
    src/, which `bazaar_env` puts first on PYTHONPATH)."""
    if src is not None:
        return [sys.executable, "-c", "from bazaar.cli import app; app()"]
    beside = Path(sys.executable).with_name("bazaar")
    found = str(beside) if beside.exists() else shutil.which("bazaar")
    if not found:
        raise SystemExit("the `bazaar` command is not installed (make install)")
    return [found]


def bazaar_env(workdir: Path, src: Path | None = None, **extra: str) -> dict[str, str]:
    """Production settings (JSON access log on, in-process worker off, rate limits raised)
    with a fresh JWT secret and `workdir` as DATA_DIR; `extra` on top."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG_", "REDIS_", "RATE_LIMIT_", "DB_", "ARGON2_", "METRICS_"))
    }
    env.update(
        {
            "NODE_ENV": "production",
            "JWT_SECRET": secrets.token_hex(32),
            "METRICS_TOKEN": secrets.token_hex(16),  # production refuses to start without it
            "LOG_LEVEL": "INFO",
            "DATA_DIR": str(workdir),
            "WORKER_IN_PROCESS": "false",
            "SEED_USERS": "false",
            **{f"RATE_LIMIT_{k}": RAISED_LIMIT for k in ("AUTH", "PAYMENT", "AI", "GLOBAL")},
        }
    )
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    return env | extra


def migrate(env: dict[str, str], workdir: Path, src: Path | None = None) -> None:
    done = subprocess.run(
        [*bazaar_command(src), "migrate"], env=env, cwd=workdir, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bazaar migrate failed:\n{done.stdout}\n{done.stderr}")


def serve_command(port: int, src: Path | None = None) -> list[str]:
    return [*bazaar_command(src), "serve", "--host", "127.0.0.1", "--port", str(port)]


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
    log = workdir / f"server-{time.time_ns()}.log"
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
    """One closed-loop load window: wrk (1 thread, bench/report.lua) or bench/loadgen.py."""
    if tool != "wrk":
        return loadgen.measure(url, headers, connections, seconds)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    command += ["--timeout", "5s", "-s", str(REPORT_LUA)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(command + [url], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.M)
    if not match:
        raise SystemExit(f"unexpected wrk output:\n{done.stdout}")
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def load_tool(choice: str) -> str:
    """`auto`: wrk when installed, else the Python load generator."""
    tool = choice if choice != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --tool python")
    return tool


def window(
    target: str,
    base: str,
    path: str,
    pid: int,
    headers: dict[str, str],
    tool: str,
    connections: int,
    seconds: float,
) -> Result:
    """Load `base + path` for `seconds`; the server's CPU time over the window, per request."""
    cpu_before = cpu_seconds(pid)
    raw = load(tool, base + path, headers, connections, seconds)
    cpu_used = cpu_seconds(pid) - cpu_before
    failures = sum(
        raw[k] for k in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return Result(
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


def measure(
    targets: list[tuple[str, str, int]],
    headers: dict[str, str],
    tool: str,
    connections: int,
    seconds: float,
) -> list[Result]:
    """Each of PATHS on each target (label, base URL, pid): a warm-up of every target (not
    kept), then one measured window each, back to back, so they see the same machine."""
    results = []
    for path in PATHS:
        for _, base, _ in targets:
            load(tool, base + path, headers, connections, min(WARM_UP_SECONDS, seconds))
        for label, base, pid in targets:
            result = window(label, base, path, pid, headers, tool, connections, seconds)
            results.append(result)
            print(f"  {summary(result)}", flush=True)
    return results


def summary(r: Result) -> str:
    return (
        f"{r.target:<26} {r.path:<14} {r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
        f"p99 {r.p99_ms:6.2f} ms  CPU {r.cpu_ms:5.2f} ms/req  "
        f"peak RSS {r.peak_rss_mb:5.0f} MiB  failures {r.failures}"
    )


ADDRESS = {
    "label": "Home",
    "fullName": "Bench User",
    "line1": "1 Loopback Lane",
    "city": "Localhost",
    "postalCode": "12345",
    "country": "DE",
}
PASSWORD = "bench-Passw0rd-long"


def register(client: httpx.Client) -> dict[str, str]:
    """A new account through the API; its auth headers."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    answer = client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench User"}
    )
    if answer.status_code != 201:
        raise SystemExit(f"register failed: {answer.status_code} {answer.text}")
    return {"Authorization": f"Bearer {answer.json()['data']['accessToken']}"}


def prepare_user(base: str) -> tuple[dict[str, str], dict[str, str]]:
    """Register one user and one address through the API; return auth headers and the
    bodies of PATHS."""
    with httpx.Client(base_url=base, timeout=30) as client:
        headers = register(client)
        address = client.post("/api/address", headers=headers, json=ADDRESS)
        if address.status_code != 201:
            raise SystemExit(f"creating the address failed: {address.status_code} {address.text}")
        bodies = {}
        for path in PATHS:
            answer = client.get(path, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"GET {path} failed: {answer.status_code} {answer.text}")
            bodies[path] = answer.text
    return headers, bodies


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


@contextlib.contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh temporary PostgreSQL database (dropped afterwards); yields its URL."""
    name = f"bazaar_bench_{secrets.token_hex(5)}"
    asyncio.run(pg_execute(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
