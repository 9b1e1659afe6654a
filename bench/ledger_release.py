"""`python -m bench.ledger_release`: ledger releases per second on PostgreSQL, beside a plain
INSERT of the same rows through asyncpg, in the same run.

A fresh temporary database is migrated (so the append-only triggers and the deferred
balance check of migration 0010 are on for both sides) and seeded with 2 × N payments of
50 sellers, each funded through `ledger.fund`. Then, in interleaved batches:

- ledger: `ledger.release(...)` of one payment per write transaction (`Database.transaction`:
  lock the payment, idempotency key check, escrow balance, the accounts, the transaction and
  its three entries, COMMIT);
- plain: the same rows for another payment — one `ledger_transactions` row and its three
  entries, amounts computed in Python, account ids known in advance — as INSERTs in one
  asyncpg transaction, nothing read first.

With `--concurrency C` each side runs C streams at once (C connections). `ledger verify`
runs after both and must pass. `--profile` prints where a ledger release spends its time
(cProfile of the ledger batches). `--write` puts the results in docs/performance.md between
the ledger markers.

    flock /tmp/bazaar-bench.lock .venv/bin/python -m bench.ledger_release --write
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.migrations import upgrade
from bazaar.models import Payment, PurchaseRequest, SellerOffer, User
from bazaar.payments import ledger
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.verify import verify
from bench.common import add_server_options, pg_execute, replace_block

BEGIN, END = "<!-- ledger:begin -->", "<!-- ledger:end -->"
USDC = ("USDC", 1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
SELLERS = 50
FEE = Decimal("2.5")


@dataclass
class Side:
    name: str
    seconds: float = 0.0
    done: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def settings_for(pg_url: str, tmp: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        node_env="production",
        jwt_secret=secrets.token_hex(32),
        data_dir=tmp,
        pg_url=pg_url,
        db_write_pool_size=16,
        worker_in_process=False,
        log_level="WARNING",
    )


async def seed(db: Database, n: int) -> list[Payment]:
    """2n payments (`held`), each funded with 100.000001 USDC through the ledger."""
    now = utcnow()
    payments: list[Payment] = []
    async with db.transaction() as session:
        buyer = User(email=f"buyer-{uuid.uuid4().hex[:8]}@bench.io", roles=["buyer"])
        sellers = [
            User(email=f"seller-{i}-{uuid.uuid4().hex[:8]}@bench.io", roles=["seller"])
            for i in range(SELLERS)
        ]
        session.add_all([buyer, *sellers])
        await session.flush()
        for i in range(2 * n):
            request = PurchaseRequest(buyer_id=buyer.id, title=f"Bench {i}", status="funded")
            session.add(request)
            await session.flush()
            seller = sellers[i % SELLERS]
            offer = SellerOffer(
                request_id=request.id,
                seller_id=seller.id,
                price=Decimal("100.000001"),
                currency=USDC[0],
                network=USDC[1],
                status="accepted",
            )
            session.add(offer)
            await session.flush()
            payments.append(
                Payment(
                    request_id=request.id,
                    offer_id=offer.id,
                    buyer_id=buyer.id,
                    seller_id=seller.id,
                    amount=Decimal("100.000001"),
                    currency=USDC[0],
                    network=USDC[1],
                    token_contract=USDC[2],
                    status="held",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add_all(payments)
        await session.flush()
    for start in range(0, len(payments), 500):
        async with db.transaction() as session:
            for payment in payments[start : start + 500]:
                await ledger.fund(
                    session,
                    payment,
                    payment.amount,
                    key=f"fund:{payment.id}",
                    cause="bench.seed",
                    now=now,
                )
    return payments


async def ledger_batch(db: Database, settings: Settings, batch: list[Payment], side: Side) -> None:
    async def one(payment: Payment) -> None:
        started = time.perf_counter()
        async with db.transaction() as session:
            await ledger.release(
                session,
                payment,
                fee_percent=FEE,
                key=f"release:{payment.id}",
                cause="bench",
                now=utcnow(),
                settings=settings,
            )
        side.latencies.append(time.perf_counter() - started)

    await streams(batch, one, side)


async def plain_batch(
    pool: asyncpg.Pool, ids: dict[uuid.UUID, dict[str, uuid.UUID]], batch: list[Payment], side: Side
) -> None:
    asset = accounts.asset_of(batch[0])

    async def one(payment: Payment) -> None:
        started = time.perf_counter()
        gross = payment.amount
        fee = ledger.fee_of(gross, FEE, 6)
        now = datetime.now(UTC)
        tx_id = uuid.uuid4()
        account = ids[payment.id]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO ledger_transactions (id, kind, payment_id, idempotency_key, "
                "reverses_id, cause, meta, created_at) VALUES ($1, 'release', $2, $3, NULL, "
                "'bench', '{}'::jsonb, $4)",
                tx_id,
                payment.id,
                f"plain:{payment.id}",
                now,
            )
            await conn.executemany(
                "INSERT INTO ledger_entries (id, transaction_id, account_id, asset, amount, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (uuid.uuid4(), tx_id, account["escrow"], asset, -gross, now),
                    (uuid.uuid4(), tx_id, account["seller"], asset, gross - fee, now),
                    (uuid.uuid4(), tx_id, account["fees"], asset, fee, now),
                ],
            )
        side.latencies.append(time.perf_counter() - started)

    await streams(batch, one, side)


async def streams(batch: list[Payment], one: object, side: Side) -> None:
    queue = list(reversed(batch))

    async def stream() -> None:
        while queue:
            await one(queue.pop())  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(stream() for _ in range(CONCURRENCY)))
    side.seconds += time.perf_counter() - started
    side.done += len(batch)


CONCURRENCY = 1


async def account_ids(
    db: Database, payments: list[Payment]
) -> dict[uuid.UUID, dict[str, uuid.UUID]]:
    """Each plain-side payment's escrow, seller and fee accounts (created up front)."""
    now = utcnow()
    result: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
    async with db.transaction() as session:
        for payment in payments:
            keys = {
                "escrow": accounts.escrow(payment),
                "seller": accounts.seller_payable(payment),
                "fees": accounts.platform_fees(accounts.asset_of(payment)),
            }
            found = await accounts.ensure(session, keys.values(), now)
            result[payment.id] = {name: found[key] for name, key in keys.items()}
    return result


async def run(args: argparse.Namespace, pg_url: str) -> tuple[Side, Side, str, bool]:
    global CONCURRENCY
    CONCURRENCY = args.concurrency
    tmp = Path(tempfile.mkdtemp(prefix="bazaar-ledger-bench-"))
    settings = settings_for(pg_url, tmp)
    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    pool = await asyncpg.create_pool(pg_url, min_size=args.concurrency, max_size=args.concurrency)
    try:
        payments = await seed(db, args.payments)
        mine, plain = payments[: args.payments], payments[args.payments :]
        ids = await account_ids(db, plain)
        ledger_side, plain_side = Side("ledger.release"), Side("plain INSERT (asyncpg)")
        # Warm-up: caches, prepared statements, the pools.
        await ledger_batch(db, settings, mine[:50], Side("warm"))
        await plain_batch(pool, ids, plain[:50], Side("warm"))
        mine, plain = mine[50:], plain[50:]
        profile = cProfile.Profile() if args.profile else None
        for start in range(0, len(mine), args.batch):
            if profile:
                profile.enable()
            await ledger_batch(db, settings, mine[start : start + args.batch], ledger_side)
            if profile:
                profile.disable()
            await plain_batch(pool, ids, plain[start : start + args.batch], plain_side)
        async with db.reading() as session:
            report = await verify(session)
        profiled = ""
        if profile:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(25)
            profiled = out.getvalue()
        return ledger_side, plain_side, profiled, report.ok
    finally:
        await pool.close()
        await db.dispose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def render(sides: tuple[Side, Side], args: argparse.Namespace, verified: bool) -> str:
    ledger_side, plain_side = sides
    ratio = ledger_side.rate / plain_side.rate if plain_side.rate else 0.0
    lines = [
        BEGIN,
        f"`python -m bench.ledger_release --payments {args.payments} --concurrency "
        f"{args.concurrency}` ({datetime.now(UTC):%Y-%m-%d}, PostgreSQL, "
        f"{os.cpu_count()} CPUs, interleaved batches of {args.batch}):",
        "",
        "| side | per second | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for side in sides:
        lines.append(
            f"| {side.name} | {side.rate:,.0f} | {percentile(side.latencies, 0.5):.2f} | "
            f"{percentile(side.latencies, 0.99):.2f} |"
        )
    lines += [
        "",
        f"Ratio ledger / plain: **{ratio:.2f}×**. `ledger verify` afterwards: "
        f"{'passed' if verified else 'FAILED'}.",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--out", type=Path, default=Path("docs/performance.md"))
    add_server_options(parser)
    args = parser.parse_args(argv)
    name = f"bazaar_bench_{secrets.token_hex(5)}"
    asyncio.run(pg_execute(args.pg_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        pg_url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + name
        ledger_side, plain_side, profiled, verified = asyncio.run(run(args, pg_url))
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(pg_execute(args.pg_admin_url, drop))
    block = render((ledger_side, plain_side), args, verified)
    print(block)
    if profiled:
        print(profiled)
    if args.write and not replace_block(args.out, BEGIN, END, block):
        print(f"no {BEGIN} … {END} markers in {args.out}: not written")
    if not verified:
        raise SystemExit("ledger verify failed after the run")


if __name__ == "__main__":
    main()
