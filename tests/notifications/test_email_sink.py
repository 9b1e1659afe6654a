"""The email sink: notification emails go through the email transport in their own job,
survive an SMTP outage (delayed, not lost), and a refused one is dead-lettered with the
reason, listed for admins and re-run on demand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.worker import Worker
from tests.conftest import base_settings
from tests.fixtures.smtp import LoopSmtpServer, SmtpServer
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import post_offer, post_request
from tests.notifications.support import KINDS, jobs_of, queue

ADMIN_API = "/api/admin/notifications/deliveries"


def _mail_settings(settings: Settings, tmp_path: Path, host: str, port: int) -> Settings:
    return base_settings(
        tmp_path,
        pg_url=settings.pg_url,
        redis_uri=settings.redis_uri,
        smtp_host=host,
        smtp_port=port,
    )


async def test_smtp_outage_delays_without_losing(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    smtp_server: SmtpServer,
    buyer: Account,
    tmp_path: Path,
) -> None:
    mail_settings = _mail_settings(settings, tmp_path, smtp_server.host, smtp_server.port)
    worker = Worker(db, mail_settings, name="mail", kinds=KINDS, sweeps=())
    smtp_server.controller.stop()  # the mail server is down
    await queue(db, buyer.id, "offer.received", {"title": "Desk"})
    await worker.run_once()
    # The in-app row is there at once: the failing email did not hold it back.
    listed = (await client.get("/api/notification", headers=buyer.headers)).json()["data"]
    assert [i["title"] for i in listed["items"]] == ["New offer on “Desk”"]
    [send] = await jobs_of(db, "notification.send")
    assert send.status == "pending" and send.attempts == 1 and send.last_error
    assert smtp_server.mailbox.messages == []

    # Back up on the same port: the retry (after its backoff) delivers it.
    restarted = Controller(smtp_server.mailbox, hostname=smtp_server.host, port=smtp_server.port)
    restarted.start()
    smtp_server.controller = restarted  # the fixture stops this one
    await worker.run_once(now=utcnow() + timedelta(minutes=5))
    [send] = await jobs_of(db, "notification.send")
    assert send.status == "done"
    [mail] = smtp_server.mailbox.to(buyer.email)
    assert mail.message["Subject"] == "New offer on “Desk”"
    assert "A seller made an offer on your request “Desk”." in mail.text


async def test_refused_mail_is_dead_lettered_listed_and_rerun(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    scripted_smtp: LoopSmtpServer,
    buyer: Account,
    admin: Account,
    tmp_path: Path,
) -> None:
    mail_settings = _mail_settings(settings, tmp_path, scripted_smtp.host, scripted_smtp.port)
    worker = Worker(db, mail_settings, name="mail", kinds=KINDS, sweeps=())
    scripted_smtp.mailbox.data_replies = ["550 5.1.1 mailbox unavailable"]
    await queue(db, buyer.id, "payment.released", {"title": "Chair"})
    await worker.run_once()
    [send] = await jobs_of(db, "notification.send")
    assert send.status == "dead"
    assert "550" in (send.last_error or "")

    assert (await client.get(ADMIN_API, headers=buyer.headers)).status_code == 403
    listed = (await client.get(ADMIN_API, headers=admin.headers)).json()["data"]
    [dead] = listed["items"]
    assert dead["id"] == str(send.id) and dead["sink"] == "email"
    assert dead["type"] == "payment.released" and "550" in dead["lastError"]

    rerun = await client.post(f"{ADMIN_API}/{send.id}/rerun", headers=admin.headers)
    assert rerun.status_code == 200, rerun.text
    assert rerun.json()["data"]["status"] == "pending"
    again = await client.post(f"{ADMIN_API}/{send.id}/rerun", headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "DELIVERY_NOT_DEAD"
    await worker.run_once()
    [send] = await jobs_of(db, "notification.send")
    assert send.status == "done"
    [mail] = scripted_smtp.mailbox.to(buyer.email)
    assert mail.message["Subject"] == "Payment released"
    assert (await client.get(ADMIN_API, headers=admin.headers)).json()["data"]["items"] == []


async def test_business_action_succeeds_while_mail_is_down(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    smtp_server: SmtpServer,
    buyer: Account,
    make_user: MakeUser,
    tmp_path: Path,
) -> None:
    """A seller's offer (which notifies the buyer) goes through with the mail server down;
    the buyer's in-app notification arrives, the email waits for its retry."""
    seller = await make_user(["seller"])
    mail_settings = _mail_settings(settings, tmp_path, smtp_server.host, smtp_server.port)
    worker = Worker(db, mail_settings, name="mail", kinds=KINDS, sweeps=())
    smtp_server.controller.stop()
    restarted = Controller(smtp_server.mailbox, hostname=smtp_server.host, port=smtp_server.port)
    try:
        request = await post_request(client, buyer, title="Oak table")
        offer = await post_offer(client, seller, request["id"])
        assert offer["requestId"] == request["id"]
        await worker.run_once()
        items = (await client.get("/api/notification", headers=buyer.headers)).json()["data"]
        assert [i["type"] for i in items["items"]] == ["offer.received"]
        assert items["items"][0]["data"]["requestId"] == request["id"]
        [send] = await jobs_of(db, "notification.send")
        assert send.status == "pending" and send.attempts == 1
    finally:
        restarted.start()
        smtp_server.controller = restarted
