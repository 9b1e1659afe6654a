"""The Rich report `bazaar ledger verify` prints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bazaar.payments.ledger.verify import Report


def render(report: Report, console: Console) -> None:
    table = Table(title="Ledger invariants (SPEC §5)", show_lines=False)
    table.add_column("check")
    table.add_column("rule")
    table.add_column("result")
    for check in report.checks:
        result = "[green]ok[/]" if check.ok else f"[red]{check.count} breach(es)[/]"
        table.add_row(check.name, check.description, result)
    console.print(table)
    for check in report.checks:
        for text in check.breaches:
            console.print(f"[red]✗ {check.name}[/] {text}")
        if check.count > len(check.breaches):
            console.print(f"[red]  … and {check.count - len(check.breaches)} more[/]")
    summary = (
        f"{report.transactions} transactions, {report.entries} entries, "
        f"{report.accounts} accounts, {report.payments} payments"
    )
    verdict = "[green]ledger OK[/]" if report.ok else "[red]ledger BROKEN[/]"
    console.print(f"{verdict}: {summary}")
