"""``carbonledger alerts run`` — the early-warning rules over the main job's year and the AMPD units.

A thin wrapper (options, progress, the Rich table, ``--report-json``) of
:func:`oracles.alerts_job.run_alerts`, which says where every figure comes from; the rules are
:mod:`ledger.alerts`.

Exit codes: 0 report written (alerts found or not), 2 bad arguments or unreadable input.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger.alerts.rules import RuleConfigError, rule_from_dict
from ledger.store.db import make_engine
from oracles.alerts_job import run_alerts
from scripts.terminal import console

alerts_app = typer.Typer(help="Early warning: rules over figures and meter streams (issue 13).", no_args_is_help=True)

_DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def summary_table(report: dict[str, Any]) -> Table:
    """One row per data set and rule: alerts, subjects with an alert / no alert / not evaluable, and
    the not-evaluable reasons."""
    t = Table(title=f"Early warning — alerts per rule (as of {report['as_of']})", show_lines=False)
    for col in ("data set", "rule", "kind", "alerts", "subjects alerted", "no alert", "not evaluable", "reasons"):
        t.add_column(col, justify="right" if col in ("alerts", "subjects alerted", "no alert", "not evaluable") else "left",
                     overflow="fold")
    for d in report["datasets"]:
        for rule_id, row in d["summary"].items():
            reasons = "; ".join(f"{r} ({n})" for r, n in row["not_evaluable_reasons"].items())
            t.add_row(d["name"], rule_id, row["kind"], f"{row['alerts']:,}", f"{row['alert']:,}", f"{row['no_alert']:,}",
                      f"{row['not_evaluable']:,}", reasons)
    return t


def _as_of(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"--as-of {text!r}: ISO 8601, e.g. 2026-12-04T00:00:00Z") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


@alerts_app.command("run")
def run(
    report_json: Annotated[Path | None, typer.Option("--report-json", help="write the full report (every alert) here")] = None,
    shared_data: Annotated[Path | None, typer.Option(help="../shared/data (AMPD files, OGE factors); "
                                                          "default $CARBONLEDGER_SHARED_DATA or ../shared/data")] = None,
    year: Annotated[int, typer.Option(help="the main job's year (UCI data)")] = 2007,
    ampd_year: Annotated[int, typer.Option(help="AMPD year under review, against the year before")] = 2017,
    rules: Annotated[Path | None, typer.Option(help="JSON list of rules (ledger.alerts.rules.rule_from_dict); "
                                                    "default: the sourced defaults")] = None,
    as_of: Annotated[str | None, typer.Option(help="evaluation time for the missing-month rule (ISO 8601; default now)")] = None,
    store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of an alerts store to save the alerts in")] = None,
) -> None:
    """Run the rules; print alert counts per rule (and not-evaluable reasons)."""
    data = shared_data or Path(os.environ.get("CARBONLEDGER_SHARED_DATA", _DEFAULT_SHARED))
    rule_list = None
    if rules is not None:
        try:
            rule_list = [rule_from_dict(d) for d in json.loads(rules.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError) as exc:   # RuleConfigError is a ValueError
            console.print(f"[red]--rules {rules}: {exc}")
            raise typer.Exit(2) from None
    try:
        with console.status("early warning") as status:
            report = run_alerts(data, year=year, ampd_review_year=ampd_year, rules=rule_list, as_of_utc=_as_of(as_of),
                                store=make_engine(store_url, store="alerts") if store_url else None,
                                progress=lambda s: (status.update(s), console.log(s)))
    except (FileNotFoundError, ValueError, RuleConfigError) as exc:
        console.print(f"[red]{exc}")
        raise typer.Exit(2) from None
    console.print(summary_table(report))
    console.print(f"CPU {report['cpu_s']} s; not-evaluable outcomes: {report['not_evaluable_total']:,}")
    if report["runs"]:
        console.print(f"recorded as alert_runs {', '.join(map(str, report['runs']))} (GET /v1/regulator/alert-runs)")
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        console.print(f"report: {report_json}")
