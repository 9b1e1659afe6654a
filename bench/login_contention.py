"""`python -m bench.login_contention OLD [NEW]`: failed logins against SQLite's write lock.

Both commits are served from temporary git worktrees on SQLite (each its own DATA_DIR,
migrated by its own `bazaar migrate`) with the production Argon2 parameters (the Settings
defaults: time cost 2, memory 19,456 KiB) and the rate limits raised. A round registers
9 fresh accounts (so no account nears the lockout), times one failed login and one
`POST /api/address` alone, then fires 8 logins with a wrong password at once, one per
account, and 20 ms later `POST /api/address` and `GET /api/auth/me` for another account:
the wall time of the 8 logins and the latency of that unrelated write, and of a read, which
waits for no lock (SQLite WAL) but for the CPU only. Rounds alternate between the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import worktree
from bench.common import replace_block
from bench.servers import (
    ADDRESS,
    PASSWORD,
    bazaar_env,
    free_port,
    machine,
    migrate,
    register,
    running,
    serve_command,
)

BEGIN, END = "<!-- logins:begin -->", "<!-- logins:end -->"
ACCOUNTS = 8
WRITE_DELAY = 0.02


@dataclass
class Side:
    name: str
    sha: str
    src: Path
    base: str = ""
    emails: list[str] = field(default_factory=list)  # this round's fresh accounts
    writer: dict[str, str] = field(default_factory=dict)
    alone_login: list[float] = field(default_factory=list)
    alone_write: list[float] = field(default_factory=list)
    logins_wall: list[float] = field(default_factory=list)
    login_median: list[float] = field(default_factory=list)
    write_during: list[float] = field(default_factory=list)
    read_during: list[float] = field(default_factory=list)


def start(stack: contextlib.ExitStack, side: Side) -> None:
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bazaar-logins-")))
    env = bazaar_env(workdir, side.src)
    migrate(env, workdir, side.src)
    port = free_port()
    side.base = f"http://127.0.0.1:{port}"
    stack.enter_context(running(serve_command(port, side.src), env, workdir, side.base + "/health"))
    with httpx.Client(base_url=side.base, timeout=60) as client:
        side.writer = register(client)


def fresh_accounts(side: Side) -> None:
    """ACCOUNTS + 1 new accounts' emails: one failure each, far from the lockout."""
    with httpx.Client(base_url=side.base, timeout=60) as client:
        side.emails = []
        for _ in range(ACCOUNTS + 1):
            me = client.get("/api/auth/me", headers=register(client)).json()
            side.emails.append(me["data"]["email"])


async def timed(request: Coroutine[Any, Any, httpx.Response], expect: int) -> float:
    started = time.perf_counter()
    answer = await request
    if answer.status_code != expect:
        raise SystemExit(f"expected {expect}, got {answer.status_code}: {answer.text}")
    return 1000 * (time.perf_counter() - started)


def failed_login(client: httpx.AsyncClient, email: str) -> Coroutine[Any, Any, httpx.Response]:
    return client.post("/api/auth/login", json={"email": email, "password": PASSWORD + "-wrong"})


def write(client: httpx.AsyncClient, side: Side) -> Coroutine[Any, Any, httpx.Response]:
    return client.post("/api/address", headers=side.writer, json=ADDRESS)


async def alone(side: Side) -> None:
    async with httpx.AsyncClient(base_url=side.base, timeout=120) as client:
        side.alone_login.append(await timed(failed_login(client, side.emails[-1]), 401))
        side.alone_write.append(await timed(write(client, side), 201))


async def contended(side: Side) -> None:
    limits = httpx.Limits(max_connections=ACCOUNTS + 2)
    async with httpx.AsyncClient(base_url=side.base, timeout=120, limits=limits) as client:
        await client.get("/health")
        started = time.perf_counter()
        logins = [
            asyncio.create_task(timed(failed_login(client, email), 401))
            for email in side.emails[:ACCOUNTS]
        ]
        await asyncio.sleep(WRITE_DELAY)
        written, read = await asyncio.gather(
            timed(write(client, side), 201),
            timed(client.get("/api/auth/me", headers=side.writer), 200),
        )
        side.write_during.append(written)
        side.read_during.append(read)
        latencies = await asyncio.gather(*logins)
        side.logins_wall.append(1000 * (time.perf_counter() - started))
        side.login_median.append(statistics.median(latencies))


def progress(side: Side) -> str:
    return (
        f"{side.name} {side.sha[:7]}: login alone {side.alone_login[-1]:.0f} ms, "
        f"8 logins {side.logins_wall[-1]:.0f} ms (median {side.login_median[-1]:.0f}), "
        f"write alone {side.alone_write[-1]:.0f} ms, during the logins "
        f"{side.write_during[-1]:.0f} ms (a read {side.read_during[-1]:.0f} ms)"
    )


def render(sides: tuple[Side, Side], args: argparse.Namespace) -> str:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f}"

    def spread(values: list[float]) -> str:
        return f"{min(values):,.0f}–{max(values):,.0f}"

    lines = [
        BEGIN,
        f"Run: `python -m bench.login_contention {args.old} {args.new}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}. SQLite, Argon2 time cost 2, "
        f"memory 19,456 KiB; {args.rounds} rounds per server, interleaved; ms, median "
        "(range) over the rounds.",
        "",
        "| code | one failed login alone | 8 concurrent failed logins: wall | their median "
        "latency | `POST /api/address` alone | `POST /api/address` during the logins "
        "| `GET /api/auth/me` during the logins |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side in sides:
        lines.append(
            f"| {side.name} ({side.sha[:7]}) | {med(side.alone_login)} | "
            f"{med(side.logins_wall)} ({spread(side.logins_wall)}) | {med(side.login_median)} | "
            f"{med(side.alone_write)} | "
            f"{med(side.write_during)} ({spread(side.write_during)}) | "
            f"{med(side.read_during)} ({spread(side.read_during)}) |"
        )
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.login_contention", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("old", help="the commit to compare against (e.g. c17f924)")
    parser.add_argument("new", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the table into this file's markers")
    args = parser.parse_args(argv)
    with (
        worktree.checkout(args.old) as (old_tree, old_sha),
        worktree.checkout(args.new) as (new_tree, new_sha),
        contextlib.ExitStack() as stack,
    ):
        sides = (Side("old", old_sha, old_tree / "src"), Side("new", new_sha, new_tree / "src"))
        for side in sides:
            start(stack, side)
        for round_no in range(args.rounds):
            for side in sides if round_no % 2 == 0 else sides[::-1]:
                fresh_accounts(side)
                asyncio.run(alone(side))
                asyncio.run(contended(side))
                print(f"round {round_no + 1} {progress(side)}", flush=True)
    block = render(sides, args)
    print("\n" + block)
    if args.out and not replace_block(args.out, BEGIN, END, block):
        raise SystemExit(f"{args.out} has no {BEGIN} … {END} markers")


if __name__ == "__main__":
    main()
