"""Many workers, one queue: no job runs twice, a dead worker's job is taken over, and
SIGTERM lets the current job finish. Workers run as coroutines and as real OS processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import (
    DONE,
    HANDLERS,
    PENDING,
    RUNNING,
    SWEEPS,
    JobContext,
    enqueue,
    job_handler,
)
from bazaar.models import Job, WorkerHeartbeat
from bazaar.worker import Worker, load_handlers

JOBS = 200

# Run by the OS-process tests: `python script.py MODE OUTDIR`, database from PG_URL/DATA_DIR.
SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from pathlib import Path

    from bazaar.config import Settings
    from bazaar.kit.db import Database
    from bazaar.kit.jobs import enqueue, job_handler
    from bazaar.worker import Worker, run_until_signal

    mode, out = sys.argv[1], Path(sys.argv[2])
    pid = os.getpid()
    settings = Settings(
        _env_file=None,
        worker_poll_interval=0.05,
        job_lease_seconds=int(os.environ["LEASE"]),
        log_level="WARNING",
    )

    @job_handler("test.multi")
    async def multi(ctx, session, payload):
        with open(out / "runs.log", "a") as log:
            log.write(f"{pid} {payload['n']}\\n")
        await enqueue(session, "test.effect", {"n": payload["n"]})
        await asyncio.sleep(0.005)

    @job_handler("test.block")
    async def block(ctx, session, payload):
        (out / "started").write_text(str(pid))
        await asyncio.Event().wait()  # hangs until the process is killed

    @job_handler("test.slow")
    async def slow(ctx, session, payload):
        (out / f"started-{payload['n']}").write_text(str(pid))
        await asyncio.sleep(1.0)
        await enqueue(session, "test.effect", {"n": payload["n"]})

    async def main():
        db = Database(settings)
        kinds = {"drain": "test.multi", "block": "test.block", "graceful": "test.slow"}
        worker = Worker(db, settings, name=f"{mode}-{pid}", kinds={kinds[mode]}, sweeps=set())
        try:
            if mode == "drain":
                (out / f"ready-{pid}").touch()
                while not (out / "go").exists():
                    time.sleep(0.01)
                while await worker.run_once():
                    pass
            elif mode == "block":
                await worker.run_once()
            else:
                await run_until_signal(worker)
        finally:
            await db.dispose()

    asyncio.run(main())
    """
)


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    load_handlers()
    handlers, sweeps = dict(HANDLERS), dict(SWEEPS)
    yield
    HANDLERS.clear()
    HANDLERS.update(handlers)
    SWEEPS.clear()
    SWEEPS.update(sweeps)


def spawn(tmp_path: Path, settings: Settings, mode: str, lease: int = 300) -> subprocess.Popen[str]:
    script = tmp_path / "worker_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "LEASE": str(lease)}
    env.pop("PG_URL", None)
    if settings.pg_url:
        env["PG_URL"] = settings.pg_url
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_for_file(path: Path, proc: subprocess.Popen[str], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(path.exists):
            if proc.poll() is not None:
                stderr = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"worker process exited early: {stderr}")
            await asyncio.sleep(0.02)


async def wait_exit(proc: subprocess.Popen[str], within: float = 60) -> tuple[int, str]:
    """(exit code, stderr) once the process ends; killed if it takes longer than `within`."""
    try:
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, stderr


async def add_jobs(db: Database, kind: str, count: int) -> None:
    async with db.session() as session:
        for n in range(count):
            await enqueue(session, kind, {"n": n})
        await session.commit()


async def statuses(db: Database, kind: str) -> Counter[str]:
    async with db.session(False) as session:
        rows = await session.execute(sa.select(Job.status).where(Job.kind == kind))
        return Counter(r[0] for r in rows)


async def effect_counts(db: Database) -> Counter[int]:
    async with db.session(False) as session:
        rows = await session.execute(sa.select(Job.payload).where(Job.kind == "test.effect"))
        return Counter(r[0]["n"] for r in rows)


async def test_two_workers_in_one_process_never_run_a_job_twice(
    db: Database, settings: Settings
) -> None:
    runs: list[tuple[str, int]] = []

    @job_handler("test.multi")
    async def multi(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        runs.append((current.get(), payload["n"]))
        await enqueue(session, "test.effect", {"n": payload["n"]})
        await asyncio.sleep(0.002)  # let the other worker interleave

    import contextvars

    current: contextvars.ContextVar[str] = contextvars.ContextVar("worker")
    await add_jobs(db, "test.multi", JOBS)
    second_db = Database(settings)  # its own engine and connections, like another host
    try:

        async def run(name: str, database: Database) -> int:
            current.set(name)
            w = Worker(database, settings, name=name, kinds={"test.multi"}, sweeps=set())
            return await w.run_once()

        ran = await asyncio.gather(run("a", db), run("b", second_db))
    finally:
        await second_db.dispose()
    assert sum(ran) == JOBS
    assert all(count > 0 for count in ran), ran  # both took part
    per_job = Counter(n for _, n in runs)
    assert set(per_job) == set(range(JOBS)) and set(per_job.values()) == {1}
    assert await statuses(db, "test.multi") == {DONE: JOBS}
    assert set((await effect_counts(db)).values()) == {1}


async def test_two_workers_never_run_an_io_job_twice(db: Database, settings: Settings) -> None:
    """I/O jobs hold no row lock while they run: the lease alone keeps them apart."""
    runs: Counter[int] = Counter()
    by_worker: Counter[str] = Counter()

    @job_handler("test.io-multi", io=True)
    async def send(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs[payload["n"]] += 1
        by_worker[current.get()] += 1
        await asyncio.sleep(0.002)  # network latency: let the other worker interleave

    import contextvars

    current: contextvars.ContextVar[str] = contextvars.ContextVar("worker")
    await add_jobs(db, "test.io-multi", JOBS)
    second_db = Database(settings)
    try:

        async def run(name: str, database: Database) -> int:
            current.set(name)
            w = Worker(database, settings, name=name, kinds={"test.io-multi"}, sweeps=set())
            return await w.run_once()

        ran = await asyncio.gather(run("a", db), run("b", second_db))
    finally:
        await second_db.dispose()
    assert sum(ran) == JOBS
    assert set(runs) == set(range(JOBS)) and set(runs.values()) == {1}
    assert set(by_worker) == {"a", "b"}  # both took part
    assert await statuses(db, "test.io-multi") == {DONE: JOBS}


async def test_two_worker_processes_never_run_a_job_twice(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await add_jobs(db, "test.multi", JOBS)
    procs = [spawn(tmp_path, settings, "drain") for _ in range(2)]
    try:
        for proc in procs:
            await wait_for_file(tmp_path / f"ready-{proc.pid}", proc)
        (tmp_path / "go").touch()
        for proc in procs:
            code, stderr = await wait_exit(proc)
            assert code == 0, stderr
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    runs = [line.split() for line in (tmp_path / "runs.log").read_text().splitlines()]
    per_job = Counter(int(n) for _, n in runs)
    assert set(per_job) == set(range(JOBS)) and set(per_job.values()) == {1}
    if db.backend == "postgresql":
        # Both claimed jobs side by side. Not asserted on SQLite: its busy handler is not
        # fair, so the process that holds the write lock can keep re-taking it between
        # jobs and drain the queue alone (correct, just not concurrent).
        assert {int(pid) for pid, _ in runs} == {p.pid for p in procs}
    assert await statuses(db, "test.multi") == {DONE: JOBS}
    assert len(await effect_counts(db)) == JOBS


async def test_job_of_a_killed_worker_is_taken_over_after_its_lease(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with db.session() as session:
        job = await enqueue(session, "test.block", {"order": "A-1"})
        await session.commit()
    proc = spawn(tmp_path, settings, "block", lease=2)
    try:
        await wait_for_file(tmp_path / "started", proc)
        async with db.session(False) as session:
            held = await session.get(Job, job.id)
        assert held is not None and held.status == RUNNING
        assert held.locked_by is not None and held.locked_by.startswith(f"block-{proc.pid}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    finished: list[str] = []

    @job_handler("test.block")
    async def finish(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        finished.append(payload["order"])

    short_lease = settings.model_copy(update={"job_lease_seconds": 2})
    rescuer = Worker(db, short_lease, name="rescuer", kinds={"test.block"}, sweeps=set())
    assert held.locked_until is not None
    if utcnow() < held.locked_until:
        assert await rescuer.run_once() == 0  # the lease is respected while it lasts
    await asyncio.sleep((held.locked_until - utcnow()).total_seconds() + 0.1)
    assert await rescuer.run_once() == 1
    async with db.session(False) as session:
        done = await session.get(Job, job.id)
    assert done is not None
    assert (done.status, done.attempts, done.locked_by) == (DONE, 2, None)
    assert finished == ["A-1"]


async def test_sigterm_finishes_the_current_job_then_exits(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with db.session() as session:
        for n in range(3):
            await enqueue(session, "test.slow", {"n": n})
        await session.commit()
    proc = spawn(tmp_path, settings, "graceful")
    try:
        await wait_for_file(tmp_path / "started-0", proc)
        async with db.session(False) as session:
            beats = (await session.execute(sa.select(WorkerHeartbeat.worker_id))).scalars().all()
        assert f"graceful-{proc.pid}" in beats  # /health can see it
        proc.send_signal(signal.SIGTERM)
        code, stderr = await wait_exit(proc, within=20)
        assert code == 0, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
    assert await effect_counts(db) == {0: 1}  # the job in hand was completed
    async with db.session(False) as session:
        rows = (await session.execute(sa.select(Job).where(Job.kind == "test.slow"))).scalars()
        by_n = {job.payload["n"]: job for job in rows}
        beats = (await session.execute(sa.select(WorkerHeartbeat.worker_id))).scalars().all()
    assert by_n[0].status == DONE
    for n in (1, 2):  # claimed in the same batch but handed back untouched
        assert (by_n[n].status, by_n[n].attempts, by_n[n].locked_by) == (PENDING, 0, None)
    assert f"graceful-{proc.pid}" not in beats
