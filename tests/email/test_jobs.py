"""`email.send` talks SMTP with no transaction open: a stalled mail server holds up no API
write; refusals are dead-lettered at once, temporary failures retried with backoff."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.config import Settings
from bazaar.email.service import EMAIL_JOB, queue_email
from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import DEAD, DONE, PENDING, RUNNING, enqueue
from bazaar.kit.locks import WRITE_TRANSACTIONS
from bazaar.models import Address, Job
from bazaar.worker import Worker
from tests.conftest import base_settings
from tests.fixtures.smtp import LoopSmtpServer, free_port
from tests.fixtures.users import MakeUser

# Only there to fail instead of hanging; every wait is on an event the test controls.
BOUND = 10

ADDRESS = {
    "fullName": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "country": "gb",
}
TEST_CONTEXT = {"sent_at": "now", "requested_by": "ops"}


def mail_worker(settings: Settings, db: Database, tmp_path: Path, port: int) -> Worker:
    """A worker that sends mail to 127.0.0.1:`port`, on the test database."""
    mail_settings = base_settings(
        tmp_path,
        pg_url=settings.pg_url,
        redis_uri=settings.redis_uri,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=BOUND,
    )
    return Worker(db, mail_settings, name="mailer", kinds={EMAIL_JOB}, sweeps=set())


async def queue(db: Database, to: str = "reader@example.com") -> Job:
    async with db.transaction() as session:
        return await queue_email(session, to, "test", TEST_CONTEXT)


async def get_job(db: Database, job_id: uuid.UUID) -> Job:
    async with db.reading() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def test_a_stalled_mail_server_does_not_hold_up_api_writes(
    db: Database,
    settings: Settings,
    tmp_path: Path,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    scripted_smtp: LoopSmtpServer,
) -> None:
    mailbox = scripted_smtp.mailbox
    mailbox.gate = asyncio.Event()  # the server stalls inside DATA until the test says
    user = await make_user()
    job = await queue(db)
    worker = mail_worker(settings, db, tmp_path, scripted_smtp.port)
    smtp_checks = WRITE_TRANSACTIONS.checks["smtp"]

    run = asyncio.create_task(worker.run_once())
    try:
        await asyncio.wait_for(mailbox.in_data.wait(), BOUND)
        # The worker now waits on the mail server. Writes go through meanwhile: one over
        # the API, one straight through a transaction of our own.
        response = await asyncio.wait_for(
            client.post("/api/address", headers=user.headers, json=ADDRESS), BOUND
        )
        assert response.status_code == 201, response.text
        async with asyncio.timeout(BOUND), db.transaction() as session:
            await enqueue(session, "test.unrelated", {"while": "smtp stalls"})
        assert not run.done()
        assert (await get_job(db, job.id)).status == RUNNING  # claimed, lease held
    finally:
        mailbox.gate.set()
    assert await asyncio.wait_for(run, BOUND) == 1

    done = await get_job(db, job.id)
    assert (done.status, done.attempts, done.last_error) == (DONE, 1, None)
    [mail] = mailbox.messages
    assert mail.recipients == ["reader@example.com"]
    async with db.reading() as session:
        assert await session.get(Address, uuid.UUID(response.json()["data"]["id"])) is not None
    # The transport checked it held no write transaction (and did not raise).
    assert WRITE_TRANSACTIONS.checks["smtp"] == smtp_checks + 1


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"data_replies": ["550 5.7.1 Message rejected as spam"]}, "rejected as spam"),
        ({"rcpt_reply": "550 5.1.1 No such user here"}, "No such user here"),
    ],
    ids=["message-refused", "recipient-refused"],
)
async def test_a_permanent_refusal_is_dead_lettered_at_once(
    db: Database,
    settings: Settings,
    tmp_path: Path,
    scripted_smtp: LoopSmtpServer,
    script: dict[str, Any],
    reason: str,
) -> None:
    for name, value in script.items():
        setattr(scripted_smtp.mailbox, name, value)
    job = await queue(db)

    assert await mail_worker(settings, db, tmp_path, scripted_smtp.port).run_once() == 1

    dead = await get_job(db, job.id)
    assert (dead.status, dead.attempts) == (DEAD, 1)  # JOB_MAX_ATTEMPTS is 5: not retried
    assert dead.last_error is not None
    assert "550" in dead.last_error and reason in dead.last_error
    assert scripted_smtp.mailbox.messages == []


async def test_a_temporary_refusal_is_retried_with_backoff_then_delivered(
    db: Database, settings: Settings, tmp_path: Path, scripted_smtp: LoopSmtpServer
) -> None:
    scripted_smtp.mailbox.data_replies = ["451 4.7.1 Greylisted, try again later"]
    job = await queue(db)
    worker = mail_worker(settings, db, tmp_path, scripted_smtp.port)
    now = utcnow()

    assert await worker.run_once(now) == 1
    retry = await get_job(db, job.id)
    assert (retry.status, retry.attempts) == (PENDING, 1)
    assert retry.run_at == now + timedelta(seconds=2)
    assert retry.last_error is not None and "Greylisted" in retry.last_error
    assert scripted_smtp.mailbox.messages == []

    assert await worker.run_once(now + timedelta(seconds=1)) == 0  # not due yet
    assert await worker.run_once(now + timedelta(seconds=2)) == 1
    done = await get_job(db, job.id)
    assert (done.status, done.attempts, done.last_error) == (DONE, 2, None)
    assert len(scripted_smtp.mailbox.messages) == 1


async def test_an_unreachable_mail_server_is_retried(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    job = await queue(db)
    closed_port = free_port()  # nothing listens there

    assert await mail_worker(settings, db, tmp_path, closed_port).run_once() == 1

    retry = await get_job(db, job.id)
    assert (retry.status, retry.attempts) == (PENDING, 1)
    assert retry.last_error is not None


async def test_an_email_that_cannot_be_built_is_dead_lettered_at_once(
    db: Database, settings: Settings, tmp_path: Path, scripted_smtp: LoopSmtpServer
) -> None:
    # Queued by an older release that knew a template this one does not.
    async with db.transaction() as session:
        job = await enqueue(
            session, EMAIL_JOB, {"to": "a@example.com", "template": "retired", "context": {}}
        )

    assert await mail_worker(settings, db, tmp_path, scripted_smtp.port).run_once() == 1

    dead = await get_job(db, job.id)
    assert (dead.status, dead.attempts) == (DEAD, 1)
    assert dead.last_error is not None and "unknown email template" in dead.last_error
    assert scripted_smtp.mailbox.in_data.is_set() is False  # never reached the server
