"""Rate-limit counters: exact under concurrency in memory and in Redis, where concurrent
hits share round trips (auto-pipelining) and two processes share one count."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from bazaar.kit.counters import Counters, MemoryCounters, RedisCounters
from tests.conftest import BACKEND, REDIS_URL

needs_redis = pytest.mark.skipif(
    BACKEND != "postgresql", reason="Redis is part of the PostgreSQL+Redis suite"
)


async def test_memory_counts_each_hit_once_and_reports_the_window() -> None:
    counters = MemoryCounters()
    results = await asyncio.gather(*(counters.hit("k", 60) for _ in range(100)))
    assert sorted(count for count, _ in results) == list(range(1, 101))
    assert all(0 < left <= 60 for _, left in results)


@needs_redis
async def test_concurrent_hits_are_exact_and_share_round_trips() -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    counters = RedisCounters(REDIS_URL, prefix)
    observer = aioredis.Redis.from_url(REDIS_URL)
    try:
        before = await _pipelined_calls(observer)
        results = await asyncio.gather(*(counters.hit("burst", 900) for _ in range(300)))
        evals = await _pipelined_calls(observer) - before
        assert sorted(count for count, _ in results) == list(range(1, 301))
        assert all(899 <= left <= 900 for _, left in results)
        assert await observer.ttl(f"{prefix}:burst") in (899, 900)
        # 300 hits arriving together travel in a handful of pipelines, not 300 trips.
        assert evals >= 300  # every hit still runs its script once in Redis
        assert counters.round_trips < 10
    finally:
        await counters.close()
        await observer.aclose()


@needs_redis
async def test_two_processes_sharing_redis_allow_exactly_the_limit() -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    one, two = RedisCounters(REDIS_URL, prefix), RedisCounters(REDIS_URL, prefix)
    try:
        hits = [c.hit("shared", 900) for c in (one, two) for _ in range(120)]
        counts = [count for count, _ in await asyncio.gather(*hits)]
        assert sorted(counts) == list(range(1, 241))
        assert sum(count <= 150 for count in counts) == 150
    finally:
        await one.close()
        await two.close()


@needs_redis
async def test_a_hit_whose_request_went_away_does_not_break_the_batch() -> None:
    counters: Counters = RedisCounters(REDIS_URL, f"test-{uuid.uuid4().hex}")
    try:
        gone = asyncio.ensure_future(counters.hit("k", 60))
        kept = asyncio.ensure_future(counters.hit("k", 60))
        await asyncio.sleep(0)
        gone.cancel()
        count, _ = await kept
        assert count in (1, 2)
        assert (await counters.hit("k", 60))[0] == 3  # the cancelled hit was still counted
    finally:
        await counters.close()


async def test_unreachable_redis_raises_for_every_waiting_hit() -> None:
    counters = RedisCounters("redis://127.0.0.1:1/0", "test")
    try:
        results = await asyncio.gather(
            *(counters.hit("k", 60) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        with pytest.raises(RedisConnectionError):
            await counters.check()
    finally:
        await counters.close()


async def _pipelined_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_eval", {}).get("calls", 0))
