"""Many workers, one queue: no job runs twice, a dead worker's job is taken over, and
SIGTERM lets the current job finish. Workers run as coroutines and as real OS processes.

Nothing here waits on time passing: coroutines meet at a barrier, worker processes talk to
the test over their pipes (lines on stdin/stdout, their own log on stderr), and a lease is
run out by moving the rescuing worker's clock (`run_once(now=...)`)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database
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
# It tells the test where it is in lines on stdout and waits for its answers on stdin; the
# worker logs on stderr, as `bazaar worker` does.
SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path

    from bazaar.config import Settings
    from bazaar.kit.db import Database
    from bazaar.kit.jobs import enqueue, job_handler
    from bazaar.kit.logging import configure_logging
    from bazaar.worker import Worker, run_until_signal

    mode, out = sys.argv[1], Path(sys.argv[2])
    pid = os.getpid()
    settings = Settings(_env_file=None, worker_poll_interval=0.05, log_level="INFO")
    configure_logging(settings)
    meet = os.environ.get("MEET") == "1"
    met = False

    def tell(line):
        print(line, flush=True)

    async def hear():
        # In a thread, so the event loop (and the worker's signal handlers) run meanwhile.
        return (await asyncio.to_thread(sys.stdin.readline)).strip()

    @job_handler("test.multi")
    async def multi(ctx, session, payload):
        global met
        with open(out / "runs.log", "a") as log:
            log.write(f"{pid} {payload['n']}\\n")
        await enqueue(session, "test.effect", {"n": payload["n"]})
        if meet and not met:
            # The first job keeps its transaction open until the other process has one
            # open too: both are claiming and running side by side.
            met = True
            tell("busy")
            await hear()

    @job_handler("test.block")
    async def block(ctx, session, payload):
        tell("started")
        await asyncio.Event().wait()  # hangs until the process is killed

    @job_handler("test.slow")
    async def slow(ctx, session, payload):
        tell(f"started {payload['n']}")
        await hear()  # the test answers once the worker has taken its SIGTERM
        await enqueue(session, "test.effect", {"n": payload["n"]})

    async def main():
        db = Database(settings)
        kinds = {"drain": "test.multi", "block": "test.block", "graceful": "test.slow"}
        worker = Worker(db, settings, name=f"{mode}-{pid}", kinds={kinds[mode]}, sweeps=set())
        try:
            if mode == "drain":
                tell("ready")
                await hear()
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


class Child:
    """A worker process running SCRIPT: lines from its stdout, answers on its stdin, and its
    log (stderr) read as it comes, kept for `logged` and for failure messages."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []
        self._log_grew = asyncio.Condition()
        self._log_ended = False
        self._log_reader = asyncio.create_task(self._read_log())

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read_log(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            async with self._log_grew:
                self.log.append(raw.decode(errors="replace"))
                self._log_grew.notify_all()
        async with self._log_grew:
            self._log_ended = True
            self._log_grew.notify_all()

    async def expect(self, wanted: str, within: float = 30) -> None:
        """Wait for the script to say `wanted` (a line on its stdout)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(within):
            while line := await self.process.stdout.readline():
                if line.decode().strip() == wanted:
                    return
            await self._log_reader
        raise AssertionError(f"worker process exited early: {''.join(self.log)}")

    async def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def logged(self, event: str, within: float = 30) -> None:
        """Wait for the worker to log `event`."""

        def seen() -> bool:
            return any(event in line for line in self.log)

        async with asyncio.timeout(within), self._log_grew:
            await self._log_grew.wait_for(lambda: seen() or self._log_ended)
        assert seen(), f"the worker never logged {event}: {''.join(self.log)}"

    async def exit(self, within: float = 60) -> tuple[int, str]:
        """(exit code, log) once the process ends; killed if it takes longer than `within`."""
        try:
            async with asyncio.timeout(within):
                code = await self.process.wait()
                await self._log_reader
        except TimeoutError:
            self.process.kill()
            raise
        return code, "".join(self.log)

    async def reap(self) -> None:
        """Kill it if it still runs (a failed test), and collect it."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self._log_reader


async def spawn(tmp_path: Path, settings: Settings, mode: str, *, meet: bool = False) -> Child:
    script = tmp_path / "worker_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "MEET": "1" if meet else "0"}
    env.pop("PG_URL", None)
    if settings.pg_url:
        env["PG_URL"] = settings.pg_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        mode,
        str(tmp_path),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Child(process)


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
    current: contextvars.ContextVar[str] = contextvars.ContextVar("worker")
    # PostgreSQL: each worker's first job keeps its transaction (and its row lock) open
    # until the other worker is inside a job too, so both claim and run side by side. Not on
    # SQLite: a job's transaction holds the database's write lock, so the other worker could
    # not get into one meanwhile. There writers take turns (BEGIN IMMEDIATE) in whatever
    # order SQLite's busy handler lets them in, and one worker may drain the queue alone
    # (correct, just not concurrent): "both took part" is asserted on PostgreSQL only.
    side_by_side = db.backend == "postgresql"
    both_busy = asyncio.Barrier(2)
    met: set[str] = set()

    @job_handler("test.multi")
    async def multi(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        name = current.get()
        runs.append((name, payload["n"]))
        await enqueue(session, "test.effect", {"n": payload["n"]})
        if side_by_side and name not in met:
            met.add(name)
            await both_busy.wait()

    await add_jobs(db, "test.multi", JOBS)
    second_db = Database(settings)  # its own engine and connections, like another host
    try:

        async def run(name: str, database: Database) -> int:
            current.set(name)
            w = Worker(database, settings, name=name, kinds={"test.multi"}, sweeps=set())
            return await w.run_once()

        async with asyncio.timeout(60):
            ran = await asyncio.gather(run("a", db), run("b", second_db))
    finally:
        await second_db.dispose()
    assert sum(ran) == JOBS
    if side_by_side:
        assert all(count > 0 for count in ran), ran  # both took part
    per_job = Counter(n for _, n in runs)
    assert set(per_job) == set(range(JOBS)) and set(per_job.values()) == {1}
    assert await statuses(db, "test.multi") == {DONE: JOBS}
    assert set((await effect_counts(db)).values()) == {1}


async def test_two_workers_never_run_an_io_job_twice(db: Database, settings: Settings) -> None:
    """I/O jobs hold no row lock while they run: the lease alone keeps them apart."""
    runs: Counter[int] = Counter()
    by_worker: Counter[str] = Counter()
    current: contextvars.ContextVar[str] = contextvars.ContextVar("worker")
    # Each worker's first job waits until the other worker is in one too (no transaction
    # is open meanwhile, so on SQLite as well): both claim and send side by side.
    both_busy = asyncio.Barrier(2)

    @job_handler("test.io-multi", io=True)
    async def send(ctx: JobContext, payload: dict[str, Any]) -> None:
        name = current.get()
        runs[payload["n"]] += 1
        by_worker[name] += 1
        if by_worker[name] == 1:
            await both_busy.wait()

    await add_jobs(db, "test.io-multi", JOBS)
    second_db = Database(settings)
    try:

        async def run(name: str, database: Database) -> int:
            current.set(name)
            w = Worker(database, settings, name=name, kinds={"test.io-multi"}, sweeps=set())
            return await w.run_once()

        async with asyncio.timeout(60):
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
    # PostgreSQL: the processes meet as in the coroutine test above (not on SQLite, whose
    # write lock a job's transaction holds; there the busy handler is not fair, so the
    # process that holds the lock can keep re-taking it between jobs and drain the queue
    # alone: correct, just not concurrent).
    side_by_side = db.backend == "postgresql"
    await add_jobs(db, "test.multi", JOBS)
    procs = [await spawn(tmp_path, settings, "drain", meet=side_by_side) for _ in range(2)]
    try:
        for proc in procs:
            await proc.expect("ready")
        for proc in procs:
            await proc.say("go")
        if side_by_side:
            for proc in procs:
                await proc.expect("busy")  # each has a job's transaction open
            for proc in procs:
                await proc.say("on")
        for proc in procs:
            code, log = await proc.exit()
            assert code == 0, log
    finally:
        for proc in procs:
            await proc.reap()
    runs = [line.split() for line in (tmp_path / "runs.log").read_text().splitlines()]
    per_job = Counter(int(n) for _, n in runs)
    assert set(per_job) == set(range(JOBS)) and set(per_job.values()) == {1}
    if side_by_side:
        assert {int(pid) for pid, _ in runs} == {p.pid for p in procs}  # both took part
    assert await statuses(db, "test.multi") == {DONE: JOBS}
    assert len(await effect_counts(db)) == JOBS


async def test_job_of_a_killed_worker_is_taken_over_after_its_lease(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with db.session() as session:
        job = await enqueue(session, "test.block", {"order": "A-1"})
        await session.commit()
    proc = await spawn(tmp_path, settings, "block")
    try:
        await proc.expect("started")
        async with db.session(False) as session:
            held = await session.get(Job, job.id)
        assert held is not None and held.status == RUNNING
        assert held.locked_by is not None and held.locked_by.startswith(f"block-{proc.pid}")
        proc.process.send_signal(signal.SIGKILL)
        code, _ = await proc.exit(within=10)
        assert code == -signal.SIGKILL
    finally:
        await proc.reap()
    # Its transaction ends with its connection: take the job's row lock (on SQLite, the
    # write lock), which waits until the server has let the dead worker's go.
    async with asyncio.timeout(30), db.session() as session:
        await session.execute(sa.select(Job.id).where(Job.id == job.id).with_for_update())
        await session.rollback()

    finished: list[str] = []

    @job_handler("test.block")
    async def finish(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        finished.append(payload["order"])

    rescuer = Worker(db, settings, name="rescuer", kinds={"test.block"}, sweeps=set())
    assert held.locked_until is not None
    second = timedelta(seconds=1)
    assert await rescuer.run_once(held.locked_until - second) == 0  # the lease is respected
    assert await rescuer.run_once(held.locked_until + second) == 1  # then taken over
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
    proc = await spawn(tmp_path, settings, "graceful")
    try:
        await proc.expect("started 0")
        async with db.session(False) as session:
            beats = (await session.execute(sa.select(WorkerHeartbeat.worker_id))).scalars().all()
        assert f"graceful-{proc.pid}" in beats  # /health can see it
        proc.process.send_signal(signal.SIGTERM)
        await proc.logged("worker_stopping")  # it took the signal with job 0 in hand
        await proc.say("finish")
        code, log = await proc.exit(within=20)
        assert code == 0, log
    finally:
        await proc.reap()
    assert await effect_counts(db) == {0: 1}  # the job in hand was completed
    async with db.session(False) as session:
        rows = (await session.execute(sa.select(Job).where(Job.kind == "test.slow"))).scalars()
        by_n = {job.payload["n"]: job for job in rows}
        beats = (await session.execute(sa.select(WorkerHeartbeat.worker_id))).scalars().all()
    assert by_n[0].status == DONE
    for n in (1, 2):  # claimed in the same batch but handed back untouched
        assert (by_n[n].status, by_n[n].attempts, by_n[n].locked_by) == (PENDING, 0, None)
    assert f"graceful-{proc.pid}" not in beats
