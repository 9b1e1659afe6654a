"""`bazaar dev chain | pay | sign-payout`: the local chain for development (never in
production: the keys are anvil's published test keys)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.console import Console

from bazaar.config import ConfigError, get_settings
from bazaar.kit.errors import AppError

dev_app = typer.Typer(
    help="Development tools: a local chain and its test wallets", no_args_is_help=True
)
console = Console(stderr=True, soft_wrap=True)


def _refuse_production() -> None:
    if get_settings().is_production:
        console.print("[red]`bazaar dev` never runs in production (it uses published test keys)[/]")
        raise typer.Exit(2)


@dev_app.command("chain")
def chain(
    port: Annotated[int, typer.Option(help="Port for anvil's JSON-RPC (0: any free port)")] = 8545,
    host: Annotated[str, typer.Option(help="Address anvil listens on")] = "127.0.0.1",
    mint: Annotated[int, typer.Option(help="TestUSD minted to the dev buyer's wallet")] = 1_000_000,
) -> None:
    """Start anvil (chain id 31337), deploy TestUSD, fund the development buyer's wallet
    and print the settings to export; runs until Ctrl-C."""
    from bazaar.dev import chain as devchain

    _refuse_production()
    try:
        anvil = devchain.start_anvil(host=host, port=port)
    except (devchain.AnvilMissing, RuntimeError, OSError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None

    async def setup() -> str:
        async with devchain.DevChain(anvil.url) as dev:
            token = await dev.deploy_test_usd()
            await dev.mint(token, devchain.BUYER.address, mint * 10**devchain.DECIMALS)
            return token

    try:
        token = asyncio.run(setup())
    except BaseException:
        anvil.stop()
        raise
    contracts = json.dumps({"USDC": {str(devchain.CHAIN_ID): token}})
    lines = [
        f"export RPC_URL_{devchain.CHAIN_ID}={anvil.url}",
        f"export TOKEN_CONTRACTS='{contracts}'",
        f"export ONCHAIN_RECEIVER_ADDRESS={devchain.TREASURY.address}",
        f"export TRANSACTION_SAFETY_CONFIRMATIONS='{{\"{devchain.CHAIN_ID}\": 1}}'",
    ]
    console.print(f"[green]anvil[/] listening on {anvil.url} (chain id {devchain.CHAIN_ID})")
    console.print(f"[green]TestUSD[/] (6 decimals, paid as USDC on 31337) at {token}")
    console.print(f"dev buyer wallet    {devchain.BUYER.address} ({mint} TestUSD)")
    console.print(f"dev seller wallet   {devchain.SELLER.address} (a shop's payout wallet)")
    console.print(f"dev treasury        {devchain.TREASURY.address} (receiver, payout signer)")
    console.print("Export these where you run `make run` and `bazaar dev pay|sign-payout`:")
    # Plain lines on stdout, never wrapped: `eval "$(bazaar dev chain ...)"`-safe.
    typer.echo("\n".join(lines))
    sys.stdout.flush()
    console.print("[dim]Ctrl-C stops the chain (its state is lost).[/]")

    def _stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # a plain `kill` stops anvil too
    try:
        anvil.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        anvil.stop()
    console.print("anvil stopped")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        console.print(f"[red]{what} must be a UUID[/]")
        raise typer.Exit(2) from None


@dev_app.command("pay")
def pay(
    payment_id: Annotated[str, typer.Argument(help="The payment to pay (its id)")],
    amount: Annotated[
        str | None, typer.Option(help="Token units to send (default: what is still due)")
    ] = None,
) -> None:
    """Pay a payment from the development buyer's anvil wallet: send the ERC-20 transfer
    to its receiver, save the tx hash as its buyer and verify it."""
    from bazaar.dev import flows
    from bazaar.kit.db import Database

    _refuse_production()
    settings = get_settings()
    pid = _uuid(payment_id, "payment-id")
    try:
        value = Decimal(amount) if amount is not None else None
    except InvalidOperation:
        console.print("[red]--amount must be a decimal number[/]")
        raise typer.Exit(2) from None

    async def main() -> flows.Paid:
        db = Database(settings)
        try:
            return await flows.pay(db, settings, pid, value)
        finally:
            await db.dispose()

    try:
        paid = asyncio.run(main())
    except (ConfigError, AppError, LookupError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"[green]sent[/] {paid.amount} ({paid.base_units} base units): {paid.tx_hash}")
    console.print(f"transfer {paid.transfer_status}; payment [bold]{paid.status}[/]")


@dev_app.command("sign-payout")
def sign_payout(
    payout_id: Annotated[str, typer.Argument(help="A built payout's id (GET /api/admin/payouts)")],
) -> None:
    """Sign a build-only payout with the development treasury key, send it, and mark it
    sent (then verified on chain)."""
    from bazaar.dev import flows
    from bazaar.kit.db import Database

    _refuse_production()
    settings = get_settings()
    pid = _uuid(payout_id, "payout-id")

    async def main() -> flows.Signed:
        db = Database(settings)
        try:
            return await flows.sign_payout(db, settings, pid)
        finally:
            await db.dispose()

    try:
        signed = asyncio.run(main())
    except (ConfigError, AppError, LookupError, ValueError, RuntimeError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"[green]sent[/] {signed.amount} to {signed.to_address}: {signed.tx_hash}")
    console.print(f"payout [bold]{signed.status}[/]")
