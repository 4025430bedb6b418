"""``carbonledger registry replay``: the command-line wrapper (options, progress bars, summary
tables) of :mod:`ledger.offsets.replay`, which documents what a replay does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ledger.offsets.replay import DEFAULT_CHUNK, replay
from scripts.terminal import console, progress_bars

registry_app = typer.Typer(help="Offset-registry exports: replay through the contracts.",
                           no_args_is_help=True)


class RichReplayProgress:
    """A :class:`ledger.offsets.replay.ReplayProgress` drawing one Rich bar a registry."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def task(self, registry: str, total: int) -> None:
        """Add the registry's bar."""
        self.tasks[registry] = self.progress.add_task(registry, total=total)

    def describe(self, registry: str, text: str) -> None:
        """Relabel the registry's bar."""
        self.progress.update(self.tasks[registry], description=text)

    def advance(self, registry: str, n: int) -> None:
        """Move the registry's bar."""
        self.progress.advance(self.tasks[registry], n)


# -------------------------------------------------------------------------------- printing


def _cells(keys: Sequence[str], vals: Sequence[int]) -> list[str]:
    return [f"{v / 1e6:,.1f}" if k == "gas_used" else f"{v:,}" for k, v in zip(keys, vals)]


def print_summary(report: dict[str, Any], out: Console | None = None) -> None:
    """Readable summary: per registry what reached the ledger, then the reconciliation."""
    c = out or console
    t = Table(title="Registry replay (1 credit = 1 tCO2e)")
    cols = ("projects", "batches", "issued t", "retirements", "certif.", "retired t",
            "cancelled t", "refused", "tx", "Mgas")
    keys = ("projects", "issuance_batches", "issued_t", "retirements", "retirement_certificates",
            "retired_t", "cancelled_t", "refused", "transactions", "gas_used")
    t.add_column("registry")
    for col in (*cols, "s"):
        t.add_column(col, justify="right")
    tot: Counter[str] = Counter()
    for reg, r in report["registries"].items():
        vals = [len(r[k]) if k == "refused" else r[k] for k in keys]
        for k, v in zip(keys, vals):
            tot[k] += v
        t.add_row(reg, *_cells(keys, vals), f"{r['seconds']:.1f}")
    t.add_section()
    t.add_row("total", *_cells(keys, [tot[k] for k in keys]), f"{report['seconds']:.1f}")
    c.print(t)
    rt = Table(title="Reconciliation with projects.csv (differences by cause)")
    rt.add_column("registry")
    rt.add_column("projects compared", justify="right")
    rt.add_column("issued diffs", justify="right")
    rt.add_column("retired diffs", justify="right")
    rt.add_column("causes (projects)")
    rt.add_column("unexplained t", justify="right")
    for reg, rec in report["reconciliation"].items():
        s = rec["summary"]
        rt.add_row(reg, f"{s['projects_compared']:,}", f"{s['issued_differences']:,}",
                   f"{s['retired_differences']:,}",
                   ", ".join(f"{k} {v}" for k, v in s["by_cause"].items()) or "—",
                   f"{s['unexplained_t']:,}")
    c.print(rt)
    for reg, rec in report["reconciliation"].items():
        for o in rec["observations"]:
            c.print(f"[bold]{reg}[/bold] {o['cause']}: {o['detail']}")
    ch = report["chain_check"]
    c.print(f"chain check: {ch['batches_on_chain']:,} batches, {ch['asset_ids']:,} token ids, "
            f"issued {ch['issued_t_on_chain']:,} t, retired {ch['retired_t_on_chain']:,} t, "
            f"cancelled {ch['cancelled_t_on_chain']:,} t on chain; "
            f"projects whose on-chain supply differs from the replay's count: "
            f"{len(ch['projects_mismatching'])}")
    c.print(f"transactions {report['transactions']:,} (setup {report['setup']['transactions']}), "
            f"gas {report['gas_used']:,}, {report['seconds']:.1f} s, "
            f"{report['transactions_per_second']:,.0f} tx/s")


@registry_app.callback()
def _registry() -> None:
    """Offset-registry exports (a callback keeps ``replay`` a sub-command when run alone)."""


@registry_app.command("replay")
def replay_command(
    data: Annotated[Path, typer.Option("--data", help="Directory of the registry exports "
                                       "({ACR,CAR,GOLD,VCS}_issuances.csv, {ACR,CAR}_retirements.csv, "
                                       "projects.csv).")],
    report_json: Annotated[Path, typer.Option("--report-json", help="Write the JSON report here.")],
    registries: Annotated[str, typer.Option("--registries", help="Comma-separated subset.")]
    = "ACR,CAR,GOLD,VCS",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Dev chain to use instead of a "
                                                "throwaway Anvil (accounts are funded with "
                                                "anvil_setBalance).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Keep the started chain's "
                                                  "snapshot and journal here (default: throwaway).")]
    = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows of each file.")]
    = None,
    chunk: Annotated[int, typer.Option("--chunk", help="Calls per JSON-RPC batch.")] = DEFAULT_CHUNK,
) -> None:
    """Replay registry exports as projects, batches and retirements; print and write the report."""
    bars = progress_bars(label="{task.description:<22}")
    try:
        with bars:
            report = replay(data, registries, report_json, rpc_url, state_dir=data_dir, limit=limit,
                            chunk=chunk, progress=RichReplayProgress(bars))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    print_summary(report)
    console.print(f"report: {report_json}")
