"""Fixed-window hit counters for the rate limits: in process memory, or shared in Redis.

Every /api request counts one hit against the global limit, so with Redis every request
waits for Redis. One command per request costs more client CPU than the rest of the
limiter (`docs/performance.md`); so the Redis counters pipeline themselves: hits that
arrive while a round trip is under way are sent together in the next one, each still its
own atomic script in Redis. Counts stay exact (every hit is counted in Redis before its
request goes on); under load one round trip carries many hits. Node's ioredis calls the
same idea auto-pipelining.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis

# Count the hit; start the window (its expiry) at the first one, as express-rate-limit
# does. Returns the count and the milliseconds left in the window (TTL's whole seconds are
# rounded to the nearest, so Retry-After could have come up to half a second early).
_HIT = """
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1]) * 1000
end
return {count, left}
"""


class Counters(Protocol):
    async def hit(self, key: str, window: int) -> tuple[int, float]:
        """Count one hit on `key`; its count in the current window and the seconds until
        the window ends. `window` (seconds) starts at the key's first hit."""
        ...

    async def check(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryCounters:
    """Counters of this process only (no REDIS_URI).

    Windows are measured on `clock` (seconds; monotonic by default): a test passes a clock
    it moves forward instead of waiting for a window to end."""

    PURGE_EVERY = 60.0  # seconds between sweeps of ended windows

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (hits, window end)
        self._next_purge = clock() + self.PURGE_EVERY

    async def hit(self, key: str, window: int) -> tuple[int, float]:
        now = self._clock()
        count, ends = self._windows.get(key, (0, now))
        if ends <= now:  # no window, or it has ended: this hit starts one
            count, ends = 0, now + window
        count += 1
        self._windows[key] = (count, ends)
        if now >= self._next_purge:
            self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
            self._next_purge = now + self.PURGE_EVERY
        return count, ends - now

    async def check(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class RedisCounters:
    """Counters shared by every process through Redis, sent in pipelined batches."""

    def __init__(self, url: str, prefix: str, password: str | None = None) -> None:
        options: dict[str, Any] = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        if password:
            options["password"] = password
        self._client = aioredis.Redis.from_url(url, **options)
        self._prefix = prefix
        self._pending: list[tuple[str, int, asyncio.Future[tuple[int, float]]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.round_trips = 0  # pipelines sent so far

    async def hit(self, key: str, window: int) -> tuple[int, float]:
        future: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()
        self._pending.append((f"{self._prefix}:{key}", window, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_pending())
        return await future

    async def _send_pending(self) -> None:
        """Send what is waiting, one pipeline per round trip, until nothing is left."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                self.round_trips += 1
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for key, window, _ in batch:
                            pipe.eval(_HIT, 1, key, window)
                        results = await pipe.execute(raise_on_error=False)
                except Exception as exc:  # noqa: BLE001 - each waiting hit gets the error
                    results = [exc] * len(batch)
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():  # its request went away (client disconnected)
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result((int(result[0]), int(result[1]) / 1000))
        finally:
            self._sender = None

    async def check(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
