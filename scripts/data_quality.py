"""``carbonledger data-quality`` — the data-quality report of a meter, grid or CEMS file.

The lead mounts :func:`data_quality` in scripts/cli.py (``app.command("data-quality")(data_quality)``);
until then it runs on its own: ``python -m scripts.data_quality FILE --format pjm-hourly
--report-json out.json``. Other programs read the JSON (shape: oracles/data_quality.py).

Exit codes: 0 report written (defects found or not), 2 bad arguments or unreadable format.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from oracles.data_quality import QualityReport, quality_report
from oracles.formats import iso_utc
from scripts.terminal import console

__all__ = ["DataFormat", "app", "data_quality", "parse_utc_offset", "summary_table"]

_OFFSET_RE = re.compile(r"([+-])(\d{1,2}):?(\d\d)")


class DataFormat(str, Enum):
    """Input formats (oracles.data_quality.FORMATS)."""

    uci_minute = "uci-minute"
    pjm_hourly = "pjm-hourly"
    ampd_hourly = "ampd-hourly"
    register_csv = "register-csv"


def parse_utc_offset(text: str) -> int:
    """``"-08:00"`` / ``"+0530"`` / ``"-8:00"`` → seconds (local = UTC + offset).

    Raises:
        typer.BadParameter: other text, or beyond ±14:00.
    """
    m = _OFFSET_RE.fullmatch(text.strip())
    if not m or int(m[3]) > 59:
        raise typer.BadParameter(f"{text!r} is not a UTC offset like -08:00")
    seconds = (int(m[2]) * 3600 + int(m[3]) * 60) * (-1 if m[1] == "-" else 1)
    if abs(seconds) > 14 * 3600:
        raise typer.BadParameter(f"{text!r} is beyond ±14:00")
    return seconds


def summary_table(report: QualityReport) -> Table:
    """Rich table: one row per series with its counts and the first defects."""
    t = Table(title=f"Data quality — {report.format}: {report.source}")
    for col in ("series", "rows", "readings", "duplicates", "conflicting", "gaps", "quarantined", "notes"):
        t.add_column(col, justify="left" if col in ("series", "notes") else "right")
    for key, s in report.series.items():
        notes: list[str] = []
        if s.gaps:
            reasons = ", ".join(f"{r} {n:,}" for r, n in s.gap_reason_counts().items())
            notes.append(f"gaps ({reasons}) {iso_utc(s.gaps[0])}…{iso_utc(s.gaps[-1])}")
        if s.duplicates:
            notes.append(f"duplicates {iso_utc(s.duplicates[0])}…{iso_utc(s.duplicates[-1])}")
        for extra in ("substitute", "imputed_by_source", "counter_reset_or_tamper", "ept_mismatch"):
            n = len(s.extra.get(extra) or [])
            if n:
                notes.append(f"{extra} {n:,}")
        t.add_row(key, f"{s.rows:,}", f"{s.readings:,}", f"{len(s.duplicates):,}", f"{len(s.conflicting):,}",
                  f"{len(s.gaps):,}", f"{len(s.quarantined):,}", "; ".join(notes))
    return t


def data_quality(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="Data file (UCI minutes, PJM hourly, AMPD hourly CEMS, register CSV).")],
    format: Annotated[DataFormat, typer.Option("--format", "-f", help="Layout of FILE.")],
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write the full report as JSON here.")] = None,
    utc_offset: Annotated[str | None, typer.Option(
        "--utc-offset", help="ampd-hourly: the data's local STANDARD time offset, e.g. -08:00 "
                             "(default: per-state table; required for states with two zones).")] = None,
    interval_seconds: Annotated[int | None, typer.Option(
        "--interval-seconds", min=1, help="register-csv: sampling period (default: most common spacing).")] = None,
) -> None:
    """Report duplicates (identical = idempotent, different = conflicting), gaps and quarantined rows per series."""
    offset = parse_utc_offset(utc_offset) if utc_offset is not None else None
    try:
        report = quality_report(file, format.value, utc_offset_seconds=offset, interval_seconds=interval_seconds)
    except (ValueError, UnicodeDecodeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(summary_table(report))
    if report.rejects:
        console.print(f"[yellow]{len(report.rejects):,} rows rejected (not placeable on a series' time axis); "
                      f"first: line {report.rejects[0].line}: {report.rejects[0].reason}[/yellow]")
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"report written to {report_json}")


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command("data-quality")(data_quality)

if __name__ == "__main__":  # pragma: no cover
    typer.run(data_quality)
