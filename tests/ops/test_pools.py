"""Connection pools sized for several processes on one PostgreSQL server.

The finding: each process could hold 40 + 10 read and 10 + 20 write connections (80), so
two API processes already passed PostgreSQL's default max_connections=100 ("too many
clients already" → 500). The defaults now keep each process at 16 connections at most,
overflow included, so 4 API processes and 2 workers fit in 100 under full load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from bazaar.config import Settings
from bazaar.kit.db import Database, pg_url_and_ssl
from tests.fixtures.users import Account, MakeUser
from tests.ops.helpers import Server, served

API_PROCESSES = 4
WORKERS = 2
PER_PROCESS = 16  # DB_READ_POOL_SIZE 10 + DB_WRITE_POOL_SIZE 6, no overflow
CONCURRENT_READS = 40  # per API process: well past its read pool
CONCURRENT_WRITES = 12

ADDRESS = {
    "fullName": "Ann Example",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}


def test_ssl_is_asked_for_only_when_the_url_says_so() -> None:
    assert pg_url_and_ssl("postgresql+asyncpg://u@db/x") == ("postgresql+asyncpg://u@db/x", False)
    url, ssl = pg_url_and_ssl("postgresql+asyncpg://u:p@db:5432/x?sslmode=require")
    assert (url, ssl) == ("postgresql+asyncpg://u:p@db:5432/x", "require")
    assert pg_url_and_ssl("postgresql+asyncpg://u@db/x?sslmode=disable")[1] is False


def _env(settings: Settings) -> dict[str, str]:
    assert settings.pg_url and settings.redis_uri
    unlimited = "1000000/15 minutes"
    return {
        "PG_URL": settings.pg_url,
        "REDIS_URI": settings.redis_uri,
        "RATE_LIMIT_GLOBAL": unlimited,
        "RATE_LIMIT_AUTH": unlimited,
        "LOG_LEVEL": "WARNING",
    }


@contextlib.asynccontextmanager
async def workers(env: dict[str, str], workdir: Path) -> AsyncIterator[list[int]]:
    bazaar = str(Path(sys.executable).parent / "bazaar")
    full = {"PATH": os.environ.get("PATH", ""), "NODE_ENV": "test", "DATA_DIR": str(workdir)}
    processes = []
    for index in range(WORKERS):
        log = (workdir / f"worker-{index}.log").open("wb")
        processes.append(
            await asyncio.create_subprocess_exec(
                bazaar,
                "worker",
                "--name",
                f"pool-test-{index}",
                cwd=workdir,
                env={**full, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            await process.wait()


async def _load(server: Server, accounts: list[Account]) -> list[int]:
    limits = httpx.Limits(max_connections=CONCURRENT_READS + CONCURRENT_WRITES)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
        reads = [
            client.get(
                "/api/marketplace/requests?mine=true",
                headers=accounts[i % len(accounts)].headers,
            )
            for i in range(CONCURRENT_READS)
        ]
        writes = [
            client.post("/api/address", json=ADDRESS, headers=accounts[i % len(accounts)].headers)
            for i in range(CONCURRENT_WRITES)
        ]
        return [r.status_code for r in await asyncio.gather(*reads, *writes)]


async def _connections_by_pid(settings: Settings) -> dict[int, int]:
    url = settings.pg_url
    assert url is not None
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT application_name, count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'bazaar-%'"
            " GROUP BY application_name"
        )
    finally:
        await conn.close()
    counts: dict[int, int] = {}
    for row in rows:
        pid = int(row["application_name"].split("-")[1])
        counts[pid] = counts.get(pid, 0) + int(row["n"])
    return counts


async def test_four_api_processes_and_two_workers_fit_in_100_connections(
    settings: Settings, db: Database, make_user: MakeUser, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL pools")
    accounts = [await make_user(roles=["buyer"]) for _ in range(8)]
    await db.dispose()  # this test process keeps no idle connections meanwhile
    env = _env(settings)
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for index in range(API_PROCESSES):
            workdir = tmp_path / f"api-{index}"
            workdir.mkdir()
            servers.append(await stack.enter_async_context(served(env, workdir)))
        worker_pids = await stack.enter_async_context(workers(env, tmp_path))
        statuses = await asyncio.gather(*(_load(s, accounts) for s in servers))
        counts = await _connections_by_pid(settings)
        logs = "\n".join(s.log() for s in servers)

    assert all(code in (200, 201) for codes in statuses for code in codes), statuses
    assert "too many clients" not in logs
    api_pids = {s.process.pid for s in servers}
    assert api_pids <= counts.keys()  # every API process used its pools
    ours = {pid: n for pid, n in counts.items() if pid in api_pids | set(worker_pids)}
    assert max(ours.values()) <= PER_PROCESS
    assert sum(ours.values()) <= (API_PROCESSES + WORKERS) * PER_PROCESS < 100
