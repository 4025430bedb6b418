"""Evaluating early-warning rules.

Each rule, for each subject it applies to, gives one :class:`Outcome`: ``alert`` (one or more
:class:`Alert`), ``no_alert`` (the data support the rule and nothing crosses it), or
``not_evaluable`` with the reason (the data cannot support the rule: no figure for the same period
of the previous year, an incomplete period, no output figure for an intensity, an annual-only
source for the monthly rules, no meter stream). A rule never answers ``no_alert`` for data it did
not see.

Inputs are plain figures so that any source can feed them: :class:`PeriodFigure` (a month or a
year of one subject: kgCO2, output MWh, whether it covers the whole period, its evidence) and
:class:`MeterStream` (a meter's readings — sequence, UTC start/end, value in W — and its gaps with
their reason, as the oracle loaders classify them: ``absent``, ``missing_value``, ``rejected``,
``imputed_by_source``).

An alert's hash is keccak256 of its canonical JSON (sorted keys, no spaces): the value a regulator
anchors on-chain and :func:`alert_hash` recomputes.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from ledger.alerts.rules import Rule, RuleKind
from ledger.crypto.primitives import keccak256

ALERT = "alert"
NO_ALERT = "no_alert"
NOT_EVALUABLE = "not_evaluable"

#: Gap reasons counted by the ``stream_gap`` rule (the loaders' names; oracles/uci.py).
GAP_REASONS = ("absent", "missing_value", "rejected")
IMPUTED_BY_SOURCE = "imputed_by_source"


def iso(t: int) -> str:
    """UTC seconds as ISO 8601 with ``Z``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PeriodFigure:
    """A month (``YYYY-MM``) or a year (``YYYY``) of one subject.

    Attributes:
        subject: ``enterprise:<USCC>`` or ``unit:<ORISPL>/<unit id>``.
        sector: e.g. ``power/coal``; None when unknown.
        period: ``YYYY-MM`` or ``YYYY`` (the subject's local calendar).
        emissions_kg: kgCO2 of the period.
        output_mwh: output (electricity generated, gross load) of the period in MWh; None when the
            source has none (a consumer's meter) — intensity is then not evaluable.
        complete: the figure covers the whole period (False, e.g., for a month the data begin in).
        note: why it is incomplete, or how it was computed.
        evidence: where it comes from (records, batches, file and lines, readings).
    """

    subject: str
    sector: str | None
    period: str
    emissions_kg: int
    output_mwh: Decimal | None = None
    complete: bool = True
    note: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


class StreamReading(NamedTuple):
    """One meter reading: device sequence number, UTC start and end (s), value (W)."""

    sequence: int
    start: int
    end: int
    value: int


class StreamGap(NamedTuple):
    """Minutes without a reading: UTC start (inclusive), end (exclusive), reason."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class MeterStream:
    """A meter's stream over a window.

    Attributes:
        subject: the owner (``enterprise:<USCC>``); ``sector`` as in :class:`PeriodFigure`.
        device: the device id (0x bytes32) or name.
        readings: in time order; ``gaps`` sorted by start.
        source: the file or store they were read from.
    """

    subject: str
    sector: str | None
    device: str
    readings: Sequence[StreamReading]
    gaps: Sequence[StreamGap]
    source: str


@dataclass(frozen=True)
class Alert:
    """One alert: which rule, on whom, for what period, the measured value against the limit, the
    severity and the evidence (records, batches and proofs where they exist, readings by sequence
    and period, file lines)."""

    rule_id: str
    kind: str
    severity: str
    subject: str
    period_start: str
    period_end: str
    measure: Mapping[str, Any]
    message: str
    evidence: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON form, the hash included."""
        d = self._body()
        d["alert_hash"] = alert_hash(d)
        return d

    def _body(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "kind": self.kind, "severity": self.severity, "subject": self.subject,
                "period_start": self.period_start, "period_end": self.period_end, "measure": dict(self.measure),
                "message": self.message, "evidence": dict(self.evidence)}

    @property
    def hash(self) -> str:
        """0x keccak256 of the canonical JSON (:func:`alert_hash`)."""
        return alert_hash(self._body())


def canonical_json(body: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the bytes an alert's hash is taken over."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def alert_hash(body: Mapping[str, Any]) -> str:
    """0x keccak256 of :func:`canonical_json` of the alert body (``alert_hash`` itself excluded)."""
    clean = {k: v for k, v in body.items() if k not in ("alert_hash", "id", "created_at", "run", "hash_ok", "anchor_tx", "anchored_at")}
    return "0x" + keccak256(canonical_json(clean).encode()).hex()


@dataclass
class Outcome:
    """What one rule found for one subject; ``reason`` says why it is not evaluable, or, beside an
    ``alert`` / ``no_alert``, which periods could not be judged."""

    rule: Rule
    subject: str
    status: str
    reason: str = ""
    alerts: list[Alert] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"rule_id": self.rule.rule_id, "kind": self.rule.kind.value, "subject": self.subject,
                "status": self.status, "reason": self.reason, "alerts": [a.as_dict() for a in self.alerts]}


def _outcome(rule: Rule, subject: str, alerts: list[Alert]) -> Outcome:
    return Outcome(rule, subject, ALERT if alerts else NO_ALERT, "", alerts)


def _not(rule: Rule, subject: str, reason: str) -> Outcome:
    return Outcome(rule, subject, NOT_EVALUABLE, reason)


def _period_bounds(period: str, utc_offset_s: int) -> tuple[str, str]:
    """ISO UTC start/end of a ``YYYY`` or ``YYYY-MM`` period cut in the subject's local offset."""
    if len(period) == 4:
        y = int(period)
        a, b = calendar.timegm((y, 1, 1, 0, 0, 0)), calendar.timegm((y + 1, 1, 1, 0, 0, 0))
    else:
        y, m = int(period[:4]), int(period[5:7])
        a = calendar.timegm((y, m, 1, 0, 0, 0))
        b = calendar.timegm((y + (m == 12), m % 12 + 1, 1, 0, 0, 0))
    return iso(a - utc_offset_s), iso(b - utc_offset_s)


def _of_period(figures: Iterable[PeriodFigure], period: str) -> list[PeriodFigure]:
    want = 4 if period == "year" else 7
    return sorted((f for f in figures if len(f.period) == want), key=lambda f: f.period)


# ----------------------------------------------------------------------------- period rules


def check_absolute(rule: Rule, subject: str, figures: Sequence[PeriodFigure], utc_offset_s: int = 0) -> Outcome:
    """``absolute_threshold``: a period's kgCO2 ≥ ``limit_kgco2``.

    Not evaluable when the subject has no figure of the rule's period length (e.g. a monthly rule on
    an annual-only source). An incomplete period is still checked (its emissions only grow), and
    the alert says it is incomplete.
    """
    figs = _of_period(figures, rule.params["period"])
    if not figs:
        return _not(rule, subject, f"no {rule.params['period']}ly figures for this subject")
    limit = rule.params["limit_kgco2"]
    alerts = []
    for f in figs:
        if f.emissions_kg >= limit:
            a, b = _period_bounds(f.period, utc_offset_s)
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, subject, a, b,
                                {"period": f.period, "emissions_kgco2": f.emissions_kg, "limit_kgco2": limit,
                                 "complete": f.complete},
                                f"{f.period}: {f.emissions_kg:,} kgCO2 ≥ limit {limit:,} kgCO2"
                                + ("" if f.complete else f" (period incomplete: {f.note})"), dict(f.evidence)))
    return _outcome(rule, subject, alerts)


def _intensity(f: PeriodFigure) -> Decimal:
    assert f.output_mwh is not None
    return (Decimal(f.emissions_kg) / f.output_mwh).quantize(Decimal("0.001"), ROUND_HALF_UP)


def check_intensity(rule: Rule, subject: str, figures: Sequence[PeriodFigure], utc_offset_s: int = 0) -> Outcome:
    """``intensity_threshold``: kgCO2 per MWh of output > ``limit_kgco2_per_mwh`` (3 decimals,
    half up). Not evaluable without figures of the period length, or when no figure has a positive
    output (a consumer's meter has none); incomplete periods are skipped and named in the reason."""
    figs = _of_period(figures, rule.params["period"])
    if not figs:
        return _not(rule, subject, f"no {rule.params['period']}ly figures for this subject")
    usable = [f for f in figs if f.output_mwh is not None and f.output_mwh > 0 and f.complete]
    if not usable:
        if all(f.output_mwh is None for f in figs):
            return _not(rule, subject, "no output figure (MWh produced): the source meters consumption only")
        return _not(rule, subject, "no complete period with a positive output")
    limit = rule.params["limit_kgco2_per_mwh"]
    alerts = []
    skipped = [f.period for f in figs if f not in usable]
    for f in usable:
        value = _intensity(f)
        if value > limit:
            a, b = _period_bounds(f.period, utc_offset_s)
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, subject, a, b,
                                {"period": f.period, "intensity_kgco2_per_mwh": str(value),
                                 "limit_kgco2_per_mwh": limit, "emissions_kgco2": f.emissions_kg,
                                 "output_mwh": str(f.output_mwh)},
                                f"{f.period}: {value} kgCO2/MWh > limit {limit} kgCO2/MWh", dict(f.evidence)))
    out = _outcome(rule, subject, alerts)
    if skipped:
        out.reason = f"periods not evaluable (incomplete or no output): {', '.join(skipped)}"
    return out


def _previous(period: str) -> str:
    return str(int(period) - 1) if len(period) == 4 else f"{int(period[:4]) - 1:04d}{period[4:]}"


def check_same_period(rule: Rule, subject: str, figures: Sequence[PeriodFigure], utc_offset_s: int = 0,
                      review: Iterable[str] | None = None) -> Outcome:
    """``same_period_deviation``: |E(period) / E(same period a year earlier) − 1| > ``band_pct`` %.

    A period is compared only when both figures exist, both are complete, and the earlier one is
    positive; otherwise that period is not evaluable, and when no period is, the rule is not
    evaluable for the subject with every reason found (e.g. "no figure for 2006-03").
    ``review``: the periods to judge (default every period of the figures).
    """
    figs = _of_period(figures, rule.params["period"])
    by = {f.period: f for f in figs}
    if review is not None:
        wanted = set(review)
        figs = [f for f in figs if f.period in wanted]
    band = rule.params["band_pct"]
    alerts: list[Alert] = []
    compared = 0
    reasons: list[str] = []
    for f in figs:
        prev = by.get(_previous(f.period))
        if prev is None:
            reasons.append(f"no figure for {_previous(f.period)}")
            continue
        if not (f.complete and prev.complete):
            bad = f if not f.complete else prev
            reasons.append(f"{bad.period} incomplete ({bad.note})")
            continue
        if prev.emissions_kg <= 0:
            reasons.append(f"{prev.period} has zero emissions")
            continue
        compared += 1
        change = (Decimal(f.emissions_kg - prev.emissions_kg) * 100 / Decimal(prev.emissions_kg)).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        if abs(change) > band:
            a, b = _period_bounds(f.period, utc_offset_s)
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, subject, a, b,
                                {"period": f.period, "previous_period": prev.period,
                                 "emissions_kgco2": f.emissions_kg, "previous_emissions_kgco2": prev.emissions_kg,
                                 "change_pct": str(change), "band_pct": band},
                                f"{f.period}: {change:+}% against {prev.period} (band ±{band}%)",
                                {"this_period": dict(f.evidence), "previous_period": dict(prev.evidence)}))
    if compared == 0:
        return _not(rule, subject, "; ".join(_squeeze(reasons)) if reasons else
                    f"no {rule.params['period']}ly figures for this subject")
    out = _outcome(rule, subject, alerts)
    if reasons:   # some periods judged, others not: say which were not (never a silent "no alert")
        out.reason = "periods not evaluable: " + "; ".join(_squeeze(reasons))
    return out


def _squeeze(reasons: list[str]) -> list[str]:
    """Runs of "no figure for P" merged into "no figure for P1 … Pn (n periods)"; others kept once."""
    missing = [r.removeprefix("no figure for ") for r in reasons if r.startswith("no figure for ")]
    other: list[str] = []
    for r in reasons:
        if not r.startswith("no figure for ") and r not in other:
            other.append(r)
    head = []
    if len(missing) == 1:
        head = [f"no figure for {missing[0]}"]
    elif missing:
        head = [f"no figure for {missing[0]} … {missing[-1]} ({len(missing)} periods)"]
    return head + other


def check_missing_months(rule: Rule, subject: str, year: int, received: Mapping[int, bool] | None,
                         as_of_utc: int, utc_offset_s: int, evidence: Mapping[str, Any] | None = None) -> Outcome:
    """``missing_monthly_data``: every month of ``year`` whose deadline (local month-end +
    ``deadline_days`` days) is at or before ``as_of_utc`` and which has no data.

    Args:
        received: month (1-12) → whether monthly data exist for it; None when the subject's source
            is annual only (then the rule is not evaluable).
        as_of_utc: the evaluation time (UTC s); months not yet due are not checked.
        utc_offset_s: the subject's clock (months are cut in it, DESIGN.md §5).
    """
    if received is None:
        return _not(rule, subject, "the source reports annual totals only: no monthly data to miss")
    days = rule.params["deadline_days"]
    alerts = []
    due = 0
    for m in range(1, 13):
        month_end = calendar.timegm((year + (m == 12), m % 12 + 1, 1, 0, 0, 0)) - utc_offset_s
        deadline = month_end + days * 86_400
        if deadline > as_of_utc:
            continue
        due += 1
        if not received.get(m, False):
            period = f"{year:04d}-{m:02d}"
            a, b = _period_bounds(period, utc_offset_s)
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, subject, a, b,
                                {"period": period, "deadline": iso(deadline), "deadline_days": days,
                                 "as_of": iso(as_of_utc)},
                                f"{period}: no monthly data; due {iso(deadline)} ({days} days after month-end)",
                                dict(evidence or {})))
    if due == 0:
        return _not(rule, subject, f"no month of {year} is past its deadline at {iso(as_of_utc)}")
    return _outcome(rule, subject, alerts)


# ----------------------------------------------------------------------------- stream rules


def _reading_evidence(stream: MeterStream, first: StreamReading, last: StreamReading, count: int) -> dict[str, Any]:
    return {"device": stream.device, "source": stream.source,
            "readings": {"first_sequence": first.sequence, "last_sequence": last.sequence, "count": count,
                         "start": iso(first.start), "end": iso(last.end)}}


def check_stuck(rule: Rule, stream: MeterStream) -> Outcome:
    """``stream_stuck``: consecutive, contiguous readings (each starting where the last ended) all of
    one value, covering ≥ ``min_minutes``. A gap ends a run. Not evaluable without readings."""
    if not stream.readings:
        return _not(rule, stream.subject, "no meter readings in the window")
    limit_s = rule.params["min_minutes"] * 60
    alerts: list[Alert] = []
    rs = stream.readings
    i = 0
    n = len(rs)
    while i < n:
        j = i
        while j + 1 < n and rs[j + 1].value == rs[i].value and rs[j + 1].start == rs[j].end:
            j += 1
        if rs[j].end - rs[i].start >= limit_s:
            minutes = (rs[j].end - rs[i].start) // 60
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, stream.subject,
                                iso(rs[i].start), iso(rs[j].end),
                                {"value_w": rs[i].value, "minutes": minutes, "min_minutes": rule.params["min_minutes"]},
                                f"meter at {rs[i].value} W for {minutes} minutes from {iso(rs[i].start)}",
                                _reading_evidence(stream, rs[i], rs[j], j - i + 1)))
        i = j + 1
    return _outcome(rule, stream.subject, alerts)


def check_step(rule: Rule, stream: MeterStream) -> Outcome:
    """``stream_step``: |value(k+1) − value(k)| ≥ ``min_step_w`` between contiguous readings."""
    if len(stream.readings) < 2:
        return _not(rule, stream.subject, "fewer than two meter readings in the window")
    limit = rule.params["min_step_w"]
    alerts = []
    rs = stream.readings
    for a, b in zip(rs, rs[1:]):
        if b.start == a.end and abs(b.value - a.value) >= limit:
            alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, stream.subject,
                                iso(a.start), iso(b.end),
                                {"from_w": a.value, "to_w": b.value, "step_w": b.value - a.value, "min_step_w": limit},
                                f"step {a.value} W → {b.value} W at {iso(b.start)}",
                                _reading_evidence(stream, a, b, 2)))
    return _outcome(rule, stream.subject, alerts)


def _gap_alerts(rule: Rule, stream: MeterStream, reasons: tuple[str, ...], what: str) -> list[Alert]:
    limit_s = rule.params["min_minutes"] * 60
    merged: list[list[Any]] = []
    for g in stream.gaps:
        if g.reason not in reasons:
            continue
        if merged and merged[-1][1] == g.start:
            merged[-1][1] = g.end
            merged[-1][2].add(g.reason)
        else:
            merged.append([g.start, g.end, {g.reason}])
    alerts = []
    seq_by_end = {r.end: r.sequence for r in stream.readings}
    seq_by_start = {r.start: r.sequence for r in stream.readings}
    for start, end, why in merged:
        if end - start < limit_s:
            continue
        minutes = (end - start) // 60
        alerts.append(Alert(rule.rule_id, rule.kind.value, rule.severity.value, stream.subject, iso(start), iso(end),
                            {"minutes": minutes, "min_minutes": rule.params["min_minutes"], "reasons": sorted(why)},
                            f"{what} of {minutes} minutes from {iso(start)} ({', '.join(sorted(why))})",
                            {"device": stream.device, "source": stream.source,
                             "gap": {"start": iso(start), "end": iso(end)},
                             "sequence_before": seq_by_end.get(start), "sequence_after": seq_by_start.get(end)}))
    return alerts


def check_gap(rule: Rule, stream: MeterStream) -> Outcome:
    """``stream_gap``: a run of minutes without a reading (absent, missing value, rejected row;
    touching runs of different reasons merged) of ≥ ``min_minutes``. Imputed minutes have their own
    rule. Not evaluable without readings (a meter that sent nothing has no stream to judge)."""
    if not stream.readings:
        return _not(rule, stream.subject, "no meter readings in the window")
    return _outcome(rule, stream.subject, _gap_alerts(rule, stream, GAP_REASONS, "gap"))


def check_imputed(rule: Rule, stream: MeterStream) -> Outcome:
    """``stream_imputed``: a run of ``imputed_by_source`` minutes (rows the data's packager filled in
    with earlier values, found and never signed by the oracle loaders) of ≥ ``min_minutes``."""
    if not stream.readings:
        return _not(rule, stream.subject, "no meter readings in the window")
    return _outcome(rule, stream.subject, _gap_alerts(rule, stream, (IMPUTED_BY_SOURCE,), "imputed run"))


STREAM_CHECKS = {RuleKind.STUCK: check_stuck, RuleKind.STEP: check_step, RuleKind.GAP: check_gap,
                 RuleKind.IMPUTED: check_imputed}
PERIOD_CHECKS = {RuleKind.ABSOLUTE: check_absolute, RuleKind.INTENSITY: check_intensity,
                 RuleKind.SAME_PERIOD: check_same_period}


@dataclass
class Subject:
    """Everything known about one subject for an evaluation.

    Attributes:
        subject, sector: as in :class:`PeriodFigure`.
        utc_offset_s: the subject's clock.
        figures: its monthly and/or annual figures.
        stream: its meter stream, or None (annual-only sources).
        monthly_year: the year whose months the missing-month rule checks; None = the source is
            annual only.
        received: month → data exist, for ``monthly_year``.
        why_no_stream: the reason stream rules are not evaluable when ``stream`` is None.
        evidence: attached to missing-month alerts (the source the months were looked for in).
        review: the periods judged (absolute, intensity: these figures; same period: these against
            the year before); None = every figure.
    """

    subject: str
    sector: str | None
    utc_offset_s: int = 0
    figures: list[PeriodFigure] = field(default_factory=list)
    stream: MeterStream | None = None
    monthly_year: int | None = None
    received: dict[int, bool] | None = None
    why_no_stream: str = "no meter stream for this subject"
    evidence: dict[str, Any] = field(default_factory=dict)
    review: set[str] | None = None

    def reviewed(self) -> list[PeriodFigure]:
        """The figures of the periods under review (all when ``review`` is None)."""
        return [f for f in self.figures if self.review is None or f.period in self.review]


def evaluate(rules: Sequence[Rule], subjects: Iterable[Subject], as_of_utc: int) -> list[Outcome]:
    """Every rule that applies to each subject, in rule order. See the module docstring."""
    out: list[Outcome] = []
    for s in subjects:
        for rule in rules:
            if not rule.applies_to(s.subject, s.sector):
                continue
            if rule.kind == RuleKind.SAME_PERIOD:
                out.append(check_same_period(rule, s.subject, s.figures, s.utc_offset_s, s.review))
            elif rule.kind in PERIOD_CHECKS:
                out.append(PERIOD_CHECKS[rule.kind](rule, s.subject, s.reviewed(), s.utc_offset_s))
            elif rule.kind == RuleKind.MISSING_MONTH:
                if s.monthly_year is None:
                    out.append(check_missing_months(rule, s.subject, 0, None, as_of_utc, s.utc_offset_s))
                else:
                    out.append(check_missing_months(rule, s.subject, s.monthly_year, s.received, as_of_utc,
                                                    s.utc_offset_s, s.evidence))
            elif s.stream is None:
                out.append(_not(rule, s.subject, s.why_no_stream))
            else:
                out.append(STREAM_CHECKS[rule.kind](rule, s.stream))
    return out


def summarize(outcomes: Iterable[Outcome]) -> dict[str, dict[str, Any]]:
    """Per rule: alerts, subjects with an alert / no alert / not evaluable, and the not-evaluable
    reasons with their subject counts."""
    out: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = out.setdefault(o.rule.rule_id, {"kind": o.rule.kind.value, "severity": o.rule.severity.value,
                                              "source": o.rule.source, "alerts": 0, ALERT: 0, NO_ALERT: 0,
                                              NOT_EVALUABLE: 0, "not_evaluable_reasons": {}})
        row[o.status] += 1
        row["alerts"] += len(o.alerts)
        if o.status == NOT_EVALUABLE:
            reasons = row["not_evaluable_reasons"]
            reasons[o.reason] = reasons.get(o.reason, 0) + 1
    return out
