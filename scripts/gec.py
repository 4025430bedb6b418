"""``carbonledger gec issue`` — green electricity certificates from a year of real hourly generation.

A thin wrapper (options, progress, Rich tables, ``--report-json``) of :func:`oracles.gec_job.run_gec`
on a throwaway embedded chain (a temporary data directory, removed afterwards); the rules are in
contracts/GreenCertificates.sol and docs/gec.md.

Exit codes: 0 report written, 2 bad arguments or unreadable input.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger.chain.anvil import free_port
from oracles.gec_job import run_gec
from oracles.system import System
from scripts.terminal import console, progress_bars

gec_app = typer.Typer(help="Green electricity certificates (绿证, GEC; issue 13).", no_args_is_help=True)

FORMATS = ("pjm-hourly",)


def month_table(report: dict[str, Any]) -> Table:
    """Certificates per plant and month, with the anchored Wh and the Wh carried on."""
    t = Table(title=f"Green electricity certificates per plant and month (months cut at UTC{report['utc_offset']})")
    for col in ("plant", "month", "readings", "anchored MWh", "certificates", "serials", "carried Wh"):
        t.add_column(col, justify="left" if col in ("plant", "month", "serials") else "right")
    for fuel, p in report["plants"].items():
        for r in p["months"]:
            serials = f"{r['first_serial']:,}–{r['last_serial']:,}" if r["first_serial"] else "—"
            t.add_row(fuel, r["month"], f"{r['readings']:,}", f"{r['anchored_wh'] / 1e6:,.3f}", f"{r['certificates']:,}",
                      serials, f"{r['carried_wh']:,}")
    return t


def plant_table(report: dict[str, Any]) -> Table:
    """Totals per plant: certificates, carried Wh and the hours not signed."""
    t = Table(title="Totals per plant")
    for col in ("plant", "technology", "certificates", "carried Wh", "missing hours", "duplicate hours", "refused hours"):
        t.add_column(col, justify="left" if col in ("plant", "technology") else "right")
    for fuel, p in report["plants"].items():
        t.add_row(fuel, str(p["technology"]), f"{p['certificates']:,}", f"{p['carried_wh']:,}", f"{len(p['missing_hours']):,}",
                  f"{len(p['duplicate_hours']):,}", f"{len(p['refused_hours']):,}")
    t.add_row("total", "", f"{report['total_certificates']:,}", "", "", "", "")
    return t


@gec_app.command("issue")
def issue(
    data: Annotated[Path, typer.Option("--data", help="hourly generation file (PJM Data Miner CSV)")],
    fmt: Annotated[str, typer.Option("--format", help="input format: pjm-hourly")] = "pjm-hourly",
    report_json: Annotated[Path | None, typer.Option("--report-json", help="write the full JSON report here")] = None,
    fuel: Annotated[list[str] | None, typer.Option("--fuel", help="fuel series to run (repeatable; default all)")] = None,
) -> None:
    """Run the year on a throwaway embedded chain: register the plants, sign and anchor every hour,
    issue certificates per plant and month; print certificates, carried fractions and refused hours."""
    if fmt not in FORMATS:
        console.print(f"[red]--format {fmt!r}: supported: {', '.join(FORMATS)}")
        raise typer.Exit(2)
    if not data.is_file():
        console.print(f"[red]--data {data}: no such file")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="gec-") as tmp:
        system = System(Path(tmp), port=free_port(), log=console.log).start()
        try:
            with progress_bars() as bars:
                tasks: dict[str, Any] = {}

                def advance(phase: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = bars.add_task(phase, total=total)
                    bars.update(tasks[phase], completed=done)

                report = run_gec(system, data, fuels=fuel or None, progress=advance, log=console.log)
        except ValueError as exc:   # PjmFormatError too
            console.print(f"[red]{exc}")
            raise typer.Exit(2) from None
        finally:
            system.stop()
    console.print(month_table(report))
    console.print(plant_table(report))
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        console.print(f"report: {report_json}")
