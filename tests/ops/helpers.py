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
import time
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


@contextlib.asynccontextmanager
async def served(
    env: dict[str, str], workdir: Path, startup_seconds: float = 30
) -> AsyncIterator[Server]:
    """Run Bazaar in a uvicorn subprocess until the block ends; stderr goes to a file."""
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
    with log_path.open("wb") as log_file:
        # cwd=workdir so no developer .env file leaks into the server's settings.
        process = await asyncio.create_subprocess_exec(
            *command, cwd=workdir, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", log_path, process)
    try:
        deadline = time.monotonic() + startup_seconds
        async with httpx.AsyncClient(base_url=server.url) as probe:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"server exited early:\n{server.log()}")
                with contextlib.suppress(httpx.TransportError):
                    await probe.get("/health", timeout=2)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer in {startup_seconds}s:\n{server.log()}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
