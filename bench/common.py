"""What the benchmark commands share: the PostgreSQL/Redis options, an admin statement on
PostgreSQL, and replacing a marked block of docs/performance.md."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """`--pg-admin-url` (a fresh database is created there) and `--redis-url`."""
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )


async def pg_execute(admin_url: str, sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE, a probe) on its own connection."""
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def replace_block(out: Path, begin: str, end: str, block: str) -> bool:
    """Put `block` where `begin`…`end` stands in `out`, re-reading the file so that other
    edits are kept. False when the file or its markers are missing."""
    if not out.exists():
        return False
    text = out.read_text()
    if begin not in text or end not in text:
        return False
    start, stop = text.index(begin), text.index(end) + len(end)
    out.write_text(text[:start] + block + text[stop:])
    return True
