"""``carbonledger simulate``: a national-scale compliance year on a throwaway Anvil.

The command-line wrapper (options, progress bars, the summary table, ``--report-json``) of the
engine :mod:`ledger.simulation.engine`, which documents what the run does and its measured figures.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from ledger.simulation.engine import SimulationConfig, SimulationInputError, run_simulation
from scripts.terminal import console, progress_bars


class RichPhases:
    """A :class:`ledger.simulation.engine.PhaseSink` drawing one Rich progress bar a phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._task: TaskID | None = None

    def start(self, name: str, total: int) -> None:
        """Add the phase's bar."""
        self._task = self.progress.add_task(name, total=total)

    def advance(self, n: int) -> None:
        """Move the current bar."""
        if self._task is not None:
            self.progress.advance(self._task, n)

    def done(self) -> None:
        """Fill the current bar."""
        if self._task is not None:
            self.progress.update(self._task, completed=self.progress.tasks[self._task].total)


def _parse_day(s: str | None) -> date | None:
    if s is None:
        return None
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise typer.BadParameter(f"{s!r} is not a date YYYY-MM-DD") from None


def print_summary(s: dict[str, Any]) -> None:
    """The compliance table summary and the run's figures."""
    d = s["details"]
    t = Table(title=f"Compliance year {d['year']}: {s['units']:,} units ({s['excluded']:,} excluded), "
                    f"{d['trading_days']} trading days {d['first_day']} → {d['last_day']}, seed {d['seed']}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [("emissions (tCO2)", f"{s['emissions_t']:,}"), ("allocation (tCO2e)", f"{s['allocation_t']:,}"),
            ("obligation (tCO2e)", f"{d['obligation_t']:,}"), ("surrendered (tCO2e)", f"{d['surrendered_t']:,}"),
            ("trades", f"{s['trades']:,}"), ("settled (t)", f"{s['settled_t']:,}"),
            ("settled (CNY)", f"{s['settled_fen'] / 100:,.2f}"), ("buyers / sellers", f"{d['buyers']:,} / {d['sellers']:,}"),
            ("unmet need / unsold surplus (t)", f"{d['unmet_t']:,} / {d['unsold_t']:,}"),
            ("compliant", f"{s['compliant']:,}"), ("shortfall", f"{s['shortfall']:,}"),
            ("shortfall (t)", f"{d['shortfall_t']:,}"),
            ("penalty range (CNY)", f"{d['penalty_min_fen'] / 100:,.2f} … {d['penalty_max_fen'] / 100:,.2f}"),
            ("transactions / gas", f"{s['transactions']:,} / {s['gas_used']:,}"),
            ("time (s) / tx per s", f"{s['seconds']:,.1f} / {d['transactions_per_second']:,.1f}"),
            ("settlement trades per s", f"{d['trades_per_second_in_settlement']:,.1f}")]
    for r in rows:
        t.add_row(*r)
    console.print(t)
    console.print(f"excluded by reason: {d['excluded_by_reason']}")
    console.print(f"computed vs file CO2: {d['emissions_vs_file_co2']}")
    console.print(f"phases (s): {d['timings_s']}")


def simulate(
    ampd: Annotated[Path, typer.Option(help="AMPD annual unit CSV (e.g. ../shared/data/cems/ampd_annual_unit_2016.csv).",
                                       exists=True, dir_okay=False)],
    prices: Annotated[Path, typer.Option(help="Daily price CSV (e.g. ../shared/data/market/GCP.csv).", exists=True,
                                         dir_okay=False)],
    report_json: Annotated[Path | None, typer.Option(help="Write the summary JSON here.")] = None,
    units: Annotated[int | None, typer.Option(help="Simulate only the first N covered units.", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Fixes keys, trading phases and matching order.")] = 0,
    factors: Annotated[Path | None, typer.Option(help="OGE factor table (default: beside the AMPD file's directory).")] = None,
    year: Annotated[int | None, typer.Option(help="Compliance year (default: the AMPD file's).")] = None,
    start: Annotated[str | None, typer.Option(help="First trading day YYYY-MM-DD (default: 1 Jan of the year).")] = None,
    end: Annotated[str | None, typer.Option(help="Last trading day YYYY-MM-DD (default: 31 Dec of the year).")] = None,
    days: Annotated[int | None, typer.Option(help="At most this many trading days.", min=1)] = None,
    cadence: Annotated[int, typer.Option(help="Each unit trades every N-th trading day.", min=1)] = 1,
    batch: Annotated[int, typer.Option(help="Trades per Settlement transaction.", min=1)] = 100,
) -> None:
    """Simulate a compliance year of AMPD units on a throwaway Anvil: MRV, allocation, trading at
    real prices through Settlement, surrender and the compliance table."""
    cfg = SimulationConfig(ampd, prices, factors, units, seed, year, _parse_day(start), _parse_day(end), days, cadence, batch)
    with progress_bars() as progress:
        try:
            summary = run_simulation(cfg, RichPhases(progress))
        except SimulationInputError as e:
            raise typer.BadParameter(str(e)) from None
    print_summary(summary)
    if report_json:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(summary, indent=2))
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != "details"}))


simulate_app = typer.Typer(help="National-scale compliance-year simulation.", no_args_is_help=True,
                           pretty_exceptions_show_locals=False)
"""Mount with ``app.add_typer(simulate_app, name="simulate")`` (or ``app.command("simulate")(simulate)``):
either way ``carbonledger simulate --ampd FILE --prices FILE [--units N] --report-json PATH``."""
simulate_app.callback(invoke_without_command=True)(simulate)

if __name__ == "__main__":
    typer.run(simulate)
