"""GET /health as a monitor sees it: a full report, 200 while the database answers,
503 UNHEALTHY with the same report when it does not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.migrations import head_revision
from bazaar.models.system import WorkerHeartbeat
from tests.ops.helpers import platform_client, settings_like


async def _beat(db: Database, worker_id: str, age: timedelta) -> None:
    async with db.session() as session:
        seen = utcnow() - age
        session.add(WorkerHeartbeat(worker_id=worker_id, started_at=seen, seen_at=seen))
        await session.commit()


async def test_health_reports_database_redis_worker_and_integrations(
    settings: Settings, db: Database, backend: str, tmp_path: Path
) -> None:
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["version"] == "0.1.0"
    assert data["database"] == {
        "backend": backend,
        "revision": head_revision(),
        "head": head_revision(),
        "ok": True,
    }
    if backend == "postgresql":
        assert data["redis"] == {"configured": True, "ok": True}
    else:
        assert data["redis"] == {"configured": False, "ok": None}
    assert data["integrations"] == settings.enabled_integrations
    # No worker has ever reported: the API works, but jobs would not run.
    assert data["worker"] == {"lastHeartbeat": None, "ok": False}
    assert data["status"] == "degraded"


async def test_health_is_ok_with_a_fresh_worker_heartbeat(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await _beat(db, "old-worker", timedelta(hours=2))
    await _beat(db, "live-worker", timedelta(seconds=3))
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        data = (await client.get("/health")).json()["data"]
    assert data["worker"]["ok"] is True
    last = data["worker"]["lastHeartbeat"]
    assert last.endswith(("Z", "+00:00"))
    assert data["status"] == "ok"


async def test_a_stale_worker_heartbeat_degrades_health(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await _beat(db, "gone-worker", timedelta(minutes=5))
    async with platform_client(settings_like(settings, tmp_path), db) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["worker"]["ok"] is False
    assert data["worker"]["lastHeartbeat"] is not None
    assert data["status"] == "degraded"


async def _unhealthy_report(settings: Settings) -> dict:
    database = Database(settings)
    try:
        async with platform_client(settings, database) as client:
            response = await client.get("/health")
    finally:
        await database.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UNHEALTHY"
    report = body["error"]["details"]
    assert report["status"] == "degraded"
    assert report["database"]["ok"] is False
    assert report["database"]["revision"] is None
    assert report["database"]["head"] == head_revision()
    return report  # type: ignore[no-any-return]


async def test_unreachable_postgresql_is_a_503(tmp_path: Path, settings: Settings) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    broken = settings_like(
        settings, tmp_path, pg_url="postgresql://postgres@127.0.0.1:1/bazaar", redis_uri=None
    )
    report = await _unhealthy_report(broken)
    assert report["database"]["backend"] == "postgresql"


async def test_unopenable_sqlite_file_is_a_503(tmp_path: Path, settings: Settings) -> None:
    # The database path is a directory, which SQLite cannot open.
    (tmp_path / "bazaar.db").mkdir()
    broken = settings_like(settings, tmp_path, pg_url=None, redis_uri=None)
    report = await _unhealthy_report(broken)
    assert report["database"]["backend"] == "sqlite"
