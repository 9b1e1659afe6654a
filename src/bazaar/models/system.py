"""Infrastructure tables (jobs, sweeps, heartbeats, idempotency keys) live in kit/tables.py,
next to the code that owns them; re-exported here so every table is seen from one place."""

from bazaar.kit.tables import IdempotencyKey, Job, PeriodicTask, WorkerHeartbeat

__all__ = ["IdempotencyKey", "Job", "PeriodicTask", "WorkerHeartbeat"]
