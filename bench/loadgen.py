"""A small asyncio HTTP/1.1 keep-alive load generator: the fallback when `wrk` is missing.

Each of N connections sends one GET at a time and waits for the whole answer (closed loop,
like wrk). Python generating load on the same 2 cores costs more CPU than wrk, so numbers
from this tool are lower than wrk's for every target alike; compare ratios, not absolutes.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


async def _connection(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    latencies: list[float],
    counts: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                counts["non_2xx"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counts["read_errors"] += 1
    finally:
        writer.close()


async def _run(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    counts = {"non_2xx": 0, "read_errors": 0}
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_connection(host, port, request, stop_at, latencies, counts) for _ in range(connections))
    )
    duration = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "non_2xx": counts["non_2xx"],
        "connect_errors": 0,
        "read_errors": counts["read_errors"],
        "write_errors": 0,
        "timeouts": 0,
    }


def measure(url: str, headers: dict[str, str], connections: int, seconds: float) -> dict[str, int]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_run(url, headers, connections, seconds))
    return uvloop.run(_run(url, headers, connections, seconds))
