"""Live events: p50/p99 from the `PATCH` of an open request (which emits `request:updated`
to `request:<id>`) to its arrival at each of N Socket.IO clients in that room, at a few
message rates, against `bazaar serve` (one process, SQLite; the committing process sends).

    .venv/bin/python -m bench.realtime [--clients 200] [--rates 5,20,50] [--seconds 5]

Every client runs in this one process (python-socketio AsyncClient over WebSocket), so at
high rates the measuring side itself is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import socketio

from bench.servers import bazaar_env, free_port, migrate, running, serve_command


def _percentiles(ordered: list[float]) -> Callable[[float], float]:
    def at(q: float) -> float:
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return at


async def _setup(url: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        email = f"bench-{time.time_ns()}@example.com"
        body = {"email": email, "password": "bench-password-123", "name": "Bench"}
        r = await http.post("/api/auth/register", json=body)
        assert r.status_code in (200, 201), r.text
        token = r.json()["data"]["accessToken"]
        request = {
            "title": "seq 0",
            "description": "A benchmark request for live events",
            "isDigital": True,
            "budgetMin": "50",
            "budgetMax": "150",
            "currency": "USDC",
            "publish": True,
        }
        r = await http.post(
            "/api/marketplace/requests",
            json=request,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        return token, r.json()["data"]["id"]


async def _measure(
    url: str, clients: int, rates: list[float], seconds: float
) -> list[dict[str, float]]:
    token, request_id = await _setup(url)
    room = f"request:{request_id}"
    sent: dict[int, float] = {}
    latencies: list[float] = []
    arrived = 0
    done = asyncio.Event()
    expected = 0

    async def on_event(data: dict[str, object]) -> None:
        nonlocal arrived
        now = time.perf_counter()
        title = str(data.get("title", ""))
        if title.startswith("seq "):
            seq = int(title[4:])
            if seq in sent:
                latencies.append(now - sent[seq])
                arrived += 1
                if arrived >= expected:
                    done.set()

    sockets = []
    for _ in range(clients):
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("request:updated", on_event)
        await sio.connect(url, auth={"token": token}, transports=["websocket"])
        ack = await sio.call("join", {"room": room}, timeout=10)
        assert ack.get("ok"), ack
        sockets.append(sio)

    results = []
    seq = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        for rate in rates:
            latencies.clear()
            arrived = 0
            done.clear()
            count = max(1, int(rate * seconds))
            expected = count * clients
            start = time.perf_counter()
            posts = []
            for i in range(count):
                at = start + i / rate
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                seq += 1
                sent[seq] = time.perf_counter()
                posts.append(
                    asyncio.create_task(
                        http.patch(
                            f"/api/marketplace/requests/{request_id}", json={"title": f"seq {seq}"}
                        )
                    )
                )
            answers = await asyncio.gather(*posts)
            bad = [a.status_code for a in answers if a.status_code != 200]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 30)
            ordered = sorted(latencies)
            p = _percentiles(ordered)
            results.append(
                {
                    "rate": rate,
                    "messages": count,
                    "deliveries": len(ordered),
                    "expected": expected,
                    "failed_posts": len(bad),
                    "p50_ms": p(0.50),
                    "p99_ms": p(0.99),
                    "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
                }
            )
            print(results[-1], flush=True)
    for sio in sockets:
        await sio.disconnect()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rates", default="5,20,50")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = bazaar_env(workdir)
        migrate(env, workdir)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with running(serve_command(port), env, workdir, f"{url}/health"):
            asyncio.run(_measure(url, args.clients, rates, args.seconds))


if __name__ == "__main__":
    main()
