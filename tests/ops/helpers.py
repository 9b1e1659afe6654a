"""Helpers for platform tests: an in-process app with its own settings, and a real server.

`platform_client` builds a fresh app (own limits, own metrics) on the suite's database;
`served` starts `uvicorn bazaar.main:create_app --factory` as a subprocess on a free
loopback port, for what only a real process shows (shared Redis limits, stderr logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bazaar.config import Settings
from bazaar.kit.db import Database
from tests.conftest import base_settings, make_app

CLIENT = ("203.0.113.7", 4242)


def settings_like(suite: Settings, tmp: Path, **overrides: Any) -> Settings:
    """Test settings on the suite's database and Redis (so the PG suite limits via Redis)."""
    values: dict[str, Any] = {"pg_url": suite.pg_url, "redis_uri": suite.redis_uri}
    values.update(overrides)
    return base_settings(tmp, **values)


@contextlib.asynccontextmanager
async def started(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    app = make_app(settings, db)
    async with LifespanManager(app):
        yield app


def client_for(app: FastAPI, client: tuple[str, int] = CLIENT, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)


@contextlib.asynccontextmanager
async def platform_client(
    settings: Settings, db: Database, client: tuple[str, int] = CLIENT
) -> AsyncIterator[httpx.AsyncClient]:
    async with started(settings, db) as app, client_for(app, client) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    log_path: Path
    process: asyncio.subprocess.Process

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


# What uvicorn prints once its socket listens, after the app's startup has completed.
READY_LINE = b"Uvicorn running on "
LINE_LIMIT = 2**22  # longest output line read whole (a log line with a long traceback)


@contextlib.asynccontextmanager
async def served(
    env: dict[str, str], workdir: Path, startup_seconds: float = 30
) -> AsyncIterator[Server]:
    """Run Bazaar in a uvicorn subprocess until the block ends; its output (stderr and
    stdout) goes to a file. Ready when uvicorn says it is listening."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(workdir),
        "NODE_ENV": "test",
        "WORKER_IN_PROCESS": "false",
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "bazaar.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    # cwd=workdir so no developer .env file leaks into the server's settings.
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        limit=LINE_LIMIT,
    )
    server = Server(f"http://127.0.0.1:{port}", log_path, process)
    ready = asyncio.Event()
    copier = asyncio.create_task(_copy_output(process, log_path, ready))
    try:
        await _until_listening(server, ready, copier, startup_seconds)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await copier


async def _copy_output(
    process: asyncio.subprocess.Process, log_path: Path, ready: asyncio.Event
) -> None:
    """Write the server's output to `log_path` line by line as it comes (read by
    `Server.log`; and the pipe never fills), and set `ready` at uvicorn's listening line."""
    assert process.stdout is not None
    with log_path.open("wb") as log_file:
        async for line in process.stdout:
            log_file.write(line)
            log_file.flush()
            if READY_LINE in line:
                ready.set()


async def _until_listening(
    server: Server, ready: asyncio.Event, copier: asyncio.Task[None], seconds: float
) -> None:
    """Wait for uvicorn's listening line, or for its output to end (it exited)."""
    said = asyncio.ensure_future(ready.wait())
    try:
        async with asyncio.timeout(seconds):
            await asyncio.wait([said, copier], return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        raise RuntimeError(f"not listening after {seconds}s:\n{server.log()}") from None
    finally:
        said.cancel()
    if not ready.is_set():
        await server.process.wait()
        raise RuntimeError(f"server exited early:\n{server.log()}")
