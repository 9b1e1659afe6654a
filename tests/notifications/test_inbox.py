"""In-app notifications: the deliver job writes rows in the user's language, the owner
lists, counts, marks read and deletes them; nobody else can see or touch them."""

from __future__ import annotations

import httpx

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.worker import Worker
from tests.fixtures.users import Account, MakeUser
from tests.notifications.support import KINDS, REALTIME_JOB, jobs_of, queue

API = "/api/notification"


async def _deliver(db: Database, settings: Settings) -> None:
    worker = Worker(db, settings, name="test-notify", kinds=KINDS, sweeps=())
    await worker.run_once()


async def test_deliver_writes_row_and_socket_push(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account
) -> None:
    await queue(db, buyer.id, "offer.received", {"title": "Red bike", "requestId": "r1"})
    await _deliver(db, settings)
    page = (await client.get(API, headers=buyer.headers)).json()["data"]
    assert page["pagination"]["total"] == 1
    item = page["items"][0]
    assert item["type"] == "offer.received"
    assert item["title"] == "New offer on “Red bike”"
    assert item["read"] is False and item["locale"] == "en"
    assert item["data"]["requestId"] == "r1"
    pushes = [j for j in await jobs_of(db, REALTIME_JOB) if j.payload["room"] == f"user:{buyer.id}"]
    assert len(pushes) == 1
    assert pushes[0].payload["event"] == "notification:new"
    assert pushes[0].payload["data"]["id"] == item["id"]
    assert pushes[0].payload["data"]["title"] == item["title"]


async def test_read_unread_count_read_all_delete(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account
) -> None:
    for n in range(3):
        await queue(db, buyer.id, "payment.held", {"title": f"Deal {n}"})
    await _deliver(db, settings)
    count = await client.get(f"{API}/unread-count", headers=buyer.headers)
    assert count.json()["data"] == {"unread": 3}
    items = (await client.get(API, headers=buyer.headers)).json()["data"]["items"]
    first = items[0]["id"]
    read = await client.post(f"{API}/{first}/read", headers=buyer.headers)
    assert read.status_code == 200 and read.json()["data"]["read"] is True
    assert (await client.get(f"{API}/unread-count", headers=buyer.headers)).json()["data"][
        "unread"
    ] == 2
    unread = (await client.get(API, params={"unread": "true"}, headers=buyer.headers)).json()
    assert {i["id"] for i in unread["data"]["items"]} == {i["id"] for i in items[1:]}
    only_read = (await client.get(API, params={"unread": "false"}, headers=buyer.headers)).json()
    assert [i["id"] for i in only_read["data"]["items"]] == [first]
    paged = (await client.get(API, params={"limit": 2, "page": 2}, headers=buyer.headers)).json()
    assert paged["data"]["pagination"]["total"] == 3 and len(paged["data"]["items"]) == 1
    all_read = await client.post(f"{API}/read-all", headers=buyer.headers)
    assert all_read.json()["data"] == {"marked": 2}
    assert (await client.get(f"{API}/unread-count", headers=buyer.headers)).json()["data"][
        "unread"
    ] == 0
    deleted = await client.delete(f"{API}/{first}", headers=buyer.headers)
    assert deleted.status_code == 200 and deleted.json()["data"]["id"] == first
    assert (await client.get(f"{API}/{first}", headers=buyer.headers)).status_code == 404
    left = (await client.get(API, headers=buyer.headers)).json()["data"]["pagination"]["total"]
    assert left == 2


async def test_others_get_404_and_change_nothing(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    buyer: Account,
    make_user: MakeUser,
) -> None:
    other = await make_user(["buyer", "seller"])
    await queue(db, buyer.id, "offer.received", {"title": "Lamp"})
    await _deliver(db, settings)
    mine = (await client.get(API, headers=buyer.headers)).json()["data"]["items"][0]["id"]
    for method, path in (
        ("GET", f"{API}/{mine}"),
        ("POST", f"{API}/{mine}/read"),
        ("DELETE", f"{API}/{mine}"),
    ):
        answer = await client.request(method, path, headers=other.headers)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "NOT_FOUND"
        assert (await client.request(method, path)).status_code == 401
    assert (await client.get(API, headers=other.headers)).json()["data"]["items"] == []
    assert (await client.post(f"{API}/read-all", headers=other.headers)).json()["data"] == {
        "marked": 0
    }
    still = (await client.get(f"{API}/{mine}", headers=buyer.headers)).json()["data"]
    assert still["read"] is False
    assert (await client.get(f"{API}/not-a-uuid", headers=buyer.headers)).status_code == 404


async def test_user_language_picks_the_template(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account
) -> None:
    changed = await client.put(
        "/api/user/preferences", headers=buyer.headers, json={"language": "de-AT"}
    )
    assert changed.status_code == 200
    await queue(db, buyer.id, "offer.received", {"title": "Rotes Fahrrad"})
    # A type with no German entry falls back to the German default, not to English.
    await queue(db, buyer.id, "request.split", {"title": "Rotes Fahrrad"})
    await _deliver(db, settings)
    items = (await client.get(API, headers=buyer.headers)).json()["data"]["items"]
    by_type = {i["type"]: i for i in items}
    assert by_type["offer.received"]["title"] == "Neues Angebot für „Rotes Fahrrad“"
    assert by_type["offer.received"]["locale"] == "de"
    assert by_type["request.split"]["body"].startswith("„Rotes Fahrrad“: Es gibt eine Änderung")


async def test_preferences_choose_the_sinks(
    client: httpx.AsyncClient, db: Database, settings: Settings, buyer: Account
) -> None:
    await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={
            "notifications": {
                "offer.received": {"inApp": False, "email": True},
                "payment.held": {"inApp": True, "email": False},
            }
        },
    )
    await queue(db, buyer.id, "offer.received", {"title": "A"})
    await queue(db, buyer.id, "payment.held", {"title": "B"})
    # Chat messages are not emailed by default.
    await queue(db, buyer.id, "message.received", {"preview": "hi"})
    worker = Worker(db, settings, name="t", kinds={"notification.deliver"}, sweeps=())
    await worker.run_once()
    items = (await client.get(API, headers=buyer.headers)).json()["data"]["items"]
    assert sorted(i["type"] for i in items) == ["message.received", "payment.held"]
    sends = await jobs_of(db, "notification.send")
    assert [(j.payload["type"], j.payload["email"]["to"]) for j in sends] == [
        ("offer.received", buyer.email)
    ]
    pushed = {j.payload["data"]["type"] for j in await jobs_of(db, REALTIME_JOB)}
    assert pushed == {"payment.held", "message.received"}
