"""`bazaar` command line: serve, worker, migrate, seed, create-admin, openapi, ledger."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bazaar.config import check_startup, get_settings

app = typer.Typer(help="Bazaar escrow marketplace backend", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HOST or 0.0.0.0)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 5001)")] = None,
    workers: Annotated[int, typer.Option(help="HTTP worker processes")] = 1,
) -> None:
    """Serve HTTP (and, in development, run the job worker in the same process)."""
    import uvicorn

    settings = get_settings()
    check_startup(settings)
    uvicorn.run(
        "bazaar.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,  # TRUST_PROXY decides; see kit/ratelimit.py
        access_log=False,  # our middleware logs every request with its request id
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
    )


@app.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Worker id shown in /health")] = None,
) -> None:
    """Run the background worker: queued jobs and periodic sweeps (production)."""
    from bazaar.kit.db import Database
    from bazaar.kit.logging import configure_logging
    from bazaar.worker import Worker, run_until_signal

    settings = get_settings()
    check_startup(settings)
    configure_logging(settings)

    async def main() -> None:
        db = Database(settings)
        try:
            await run_until_signal(Worker(db, settings, name=name))
        finally:
            await db.dispose()

    asyncio.run(main())


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (SQLite file or PG_URL)."""
    from bazaar.kit.migrations import upgrade

    settings = get_settings()
    if settings.database_backend == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings, revision)
    if settings.database_backend == "sqlite":
        # SQLite plans from statistics only ANALYZE gathers; without them it picked the
        # wrong index for filtered listings (bench.marketplace).
        # The worker repeats this every hour (ops.sqlite_optimize) as the data grows.
        import sqlite3

        from bazaar.kit.db import SQLITE_OPTIMIZE

        with sqlite3.connect(settings.data_dir / "bazaar.db") as conn:
            for statement in SQLITE_OPTIMIZE:
                conn.execute(statement)
    console.print(f"[green]migrated[/] {settings.database_backend} to {revision}")


@app.command()
def seed() -> None:
    """Insert development data (users per role, categories); safe to run twice."""
    from bazaar.kit.db import Database
    from bazaar.seed import seed_all

    settings = get_settings()

    if settings.is_production and settings.seed_users:
        console.print("[red]SEED_USERS=true is refused in production[/]")
        raise typer.Exit(2)

    async def main() -> dict[str, int]:
        db = Database(settings)
        try:
            return await seed_all(db, settings)
        finally:
            await db.dispose()

    created = asyncio.run(main())
    console.print(f"[green]seeded[/] {created}")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Admin email")],
    password: Annotated[str, typer.Option(help="Admin password (8+ characters)")],
    name: Annotated[str, typer.Option(help="Display name")] = "Administrator",
) -> None:
    """Create an admin account, or grant the admin role to an existing one."""
    from bazaar.kit.db import Database
    from bazaar.kit.errors import AppError
    from bazaar.users.service import ensure_admin

    settings = get_settings()

    async def main() -> str:
        db = Database(settings)
        try:
            return await ensure_admin(db, settings, email, password, name)
        finally:
            await db.dispose()

    try:
        outcome = asyncio.run(main())
    except AppError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from exc
    console.print(f"[green]{outcome}[/] {email}")


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the spec")] = Path("openapi.json"),
) -> None:
    """Write the OpenAPI spec to a file (default ./openapi.json)."""
    from bazaar.main import create_app

    spec = create_app(get_settings()).openapi()
    output.write_text(json.dumps(spec, indent=2, sort_keys=False) + "\n")
    console.print(f"[green]wrote[/] {output} ({len(spec.get('paths', {}))} paths)")


ledger_app = typer.Typer(help="The escrow ledger", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Check every ledger invariant of SPEC §5; exit 1 on any breach."""
    from bazaar.kit.db import Database
    from bazaar.payments.ledger.report import render
    from bazaar.payments.ledger.verify import Report, verify

    settings = get_settings()

    async def main() -> Report:
        db = Database(settings)
        try:
            async with db.reading() as session:
                return await verify(session)
        finally:
            await db.dispose()

    report = asyncio.run(main())
    render(report, Console())
    if not report.ok:
        raise typer.Exit(1)


# `bazaar dev chain|pay|sign-payout` (development only; src/bazaar/dev/cli.py).
from bazaar.dev.cli import dev_app  # noqa: E402

app.add_typer(dev_app, name="dev")


if __name__ == "__main__":
    app()
