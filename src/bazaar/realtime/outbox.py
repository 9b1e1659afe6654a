"""Emit at once after commit: the committing process sends its `realtime.emit` jobs.

An `after_flush` listener notes the `realtime.emit` jobs a session inserts; at
`after_commit`, if this process serves Socket.IO on that database (`attach`), a task sends
them (no transaction open) and then marks the jobs `done` in one short transaction. The
worker (`realtime.jobs`) only sees the jobs a crash left pending. Jobs dropped by a
rolled-back savepoint are no longer persistent at commit and are skipped; a rolled-back
transaction sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from bazaar.kit import jobs
from bazaar.kit.db import Database, utcnow
from bazaar.kit.tables import Job
from bazaar.models import RefreshToken, User
from bazaar.realtime.events import REALTIME_JOB

log = structlog.get_logger("bazaar.realtime")

Sender = Callable[[str, str, Any], Awaitable[None]]

_KEY = "bazaar.realtime.jobs"


class Outbox:
    """Sends the committed events of one database through `send`."""

    def __init__(self, db: Database, send: Sender) -> None:
        self.db = db
        self.send = send
        # By pool: a session may be bound to a copy of an engine with other options.
        self.pools = {id(e.sync_engine.pool) for e in db.engines}
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, jobs_: list[Job]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(jobs_))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, committed: list[Job]) -> None:
        now = utcnow()
        sent: list[uuid.UUID] = []
        stale: list[uuid.UUID] = []
        for job in committed:
            if not live(job, now):
                stale.append(job.id)
                continue
            try:
                p = job.payload
                await self.send(p["room"], p["event"], p["data"])
            except Exception as exc:  # the worker retries what is left pending
                log.warning("realtime_emit_failed", job_id=str(job.id), error=repr(exc))
                continue
            sent.append(job.id)
        if not sent and not stale:
            return
        try:
            async with self.db.transaction() as session:
                for ids, status in ((sent, jobs.DONE), (stale, jobs.EXPIRED)):
                    if ids:
                        await session.execute(
                            sa.update(Job)
                            .where(Job.id.in_(ids), Job.status == jobs.PENDING)
                            .values(status=status, finished_at=utcnow())
                        )
        except Exception as exc:  # sent already; the worker may send it again
            log.warning("realtime_mark_failed", error=repr(exc))

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def live(job: Job, now: datetime) -> bool:
    """Still worth sending: before its expiry, or (queued without one, as the marketplace's
    `machine.emit` does) within `REALTIME_TTL` of its creation."""
    expires_at = job.expires_at or job.created_at + jobs.REALTIME_TTL
    return expires_at > now


_outboxes: list[Outbox] = []


def attach(outbox: Outbox) -> None:
    _outboxes.append(outbox)


def detach(outbox: Outbox) -> None:
    with contextlib.suppress(ValueError):
        _outboxes.remove(outbox)


def _outbox_for(session: Session) -> Outbox | None:
    bind = session.get_bind() if session.bind is None else session.bind
    pool = id(getattr(bind, "pool", None))
    for outbox in reversed(_outboxes):
        if pool in outbox.pools:
            return outbox
    return None


# Called after a commit that may have ended someone's access (a ban, a token-version bump,
# revoked refresh tokens): the socket servers of this process re-check their sockets now.
access_changed: list[Callable[[], None]] = []
_ACCESS_KEY = "bazaar.realtime.access"


@event.listens_for(Session, "after_flush")
def _note_jobs(session: Session, _flush_context: Any) -> None:
    if not _outboxes:
        return
    found = [o for o in session.new if isinstance(o, Job) and o.kind == REALTIME_JOB]
    if found:
        session.info.setdefault(_KEY, []).extend(found)
    if access_changed and any(_access_ended(o) for o in session.dirty):
        session.info[_ACCESS_KEY] = True


def _access_ended(obj: object) -> bool:
    if not isinstance(obj, User):
        return False
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in ("banned_at", "token_version"))


@event.listens_for(Session, "do_orm_execute")
def _note_revocations(orm_execute_state: Any) -> None:
    if not access_changed or not orm_execute_state.is_update:
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is not None and mapper.class_ is RefreshToken:
        orm_execute_state.session.info[_ACCESS_KEY] = True


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    if session.info.pop(_ACCESS_KEY, False):
        for nudge in list(access_changed):
            nudge()
    noted: list[Job] | None = session.info.pop(_KEY, None)
    if not noted:
        return
    committed = [j for j in noted if sa.inspect(j).persistent]
    if not committed:
        return
    try:
        outbox = _outbox_for(session)
    except Exception:
        return
    if outbox is None:
        return
    try:
        outbox.start(committed)
    except RuntimeError:  # no running loop (a sync caller): the worker sends them
        return


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_KEY, None)
        session.info.pop(_ACCESS_KEY, None)
