"""Early-warning rules: kinds, parameters, scopes, validation and the sourced defaults.

A rule is a regulator's act: it names its kind, the scope it applies to (one enterprise,
``enterprise:<USCC>`` or ``unit:<ORISPL>/<unit id>``, or a sector, ``sector:<code>``, e.g.
``sector:power/coal``), integer parameters whose names carry their units, the severity of the
alerts it raises and the source of its values. china_rules.md (../shared/data) gives **no**
early-warning threshold, band or stream limit: those values are the regulator's to set and every
default here that is not cited is marked ``UNCONFIRMED`` in its ``source``.

Cited values:

* reporting deadline of monthly data: 40 natural days after month-end (china_rules.md §1,
  "Monthly 信息化存证 content and deadline": PARTIAL — inferred from a municipal notice
  implementing 环办气候函〔2023〕43号 and from a secondary text on the 2021 guideline);
* coverage threshold 26,000 tCO2e a year (china_rules.md §1, "Coverage threshold": CONFIRMED-P,
  municipal notice implementing 43号) — used as the power sector's annual absolute threshold;
* supply benchmarks 0.877 tCO2/MWh (coal >300MW) and 0.392 tCO2/MWh (gas) (国环规气候〔2020〕3号,
  china_rules.md §3a: PARTIAL) — used as intensity thresholds of the power sector: a unit above its
  benchmark emits more per MWh than its free allocation covers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class RuleConfigError(ValueError):
    """A rule's kind, scope, parameters or severity are invalid; the message names the field."""


class RuleKind(StrEnum):
    """The eight kinds of rule (issue 13, "Early warning")."""

    ABSOLUTE = "absolute_threshold"          # emissions of a period above a limit (kgCO2)
    INTENSITY = "intensity_threshold"        # emissions per MWh of output above a limit (kgCO2/MWh)
    SAME_PERIOD = "same_period_deviation"    # |this period / same period last year − 1| above a band
    MISSING_MONTH = "missing_monthly_data"   # a month without data after its reporting deadline
    STUCK = "stream_stuck"                   # a meter reporting one value for longer than a limit
    STEP = "stream_step"                     # a sudden step between consecutive readings
    GAP = "stream_gap"                       # a run of minutes without readings longer than a limit
    IMPUTED = "stream_imputed"               # a run of minutes the source filled in (imputed_by_source)


class Severity(StrEnum):
    """Alert severity, lowest first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


#: Parameters each kind needs (name → allowed values or ``int``): units in the names.
PARAMS: Final[dict[RuleKind, dict[str, Any]]] = {
    RuleKind.ABSOLUTE: {"period": ("month", "year"), "limit_kgco2": int},
    RuleKind.INTENSITY: {"period": ("month", "year"), "limit_kgco2_per_mwh": int},
    RuleKind.SAME_PERIOD: {"period": ("month", "year"), "band_pct": int},
    RuleKind.MISSING_MONTH: {"deadline_days": int},
    RuleKind.STUCK: {"min_minutes": int},
    RuleKind.STEP: {"min_step_w": int},
    RuleKind.GAP: {"min_minutes": int},
    RuleKind.IMPUTED: {"min_minutes": int},
}

SCOPE_RE: Final = re.compile(r"^(enterprise|unit|sector):[A-Za-z0-9_./-]{1,64}$")
"""``enterprise:<USCC>``, ``unit:<ORISPL>/<unit id>`` or ``sector:<code>[/<category>]``."""

#: Largest accepted integer parameter (fits a signed 64-bit SQL column).
_MAX_PARAM: Final = 2**63 - 1


@dataclass(frozen=True)
class Rule:
    """One configured rule.

    Attributes:
        rule_id: the regulator's name for it (``[A-Za-z0-9_.:/-]``, ≤ 80 chars), unique in a rule set.
        kind: :class:`RuleKind`.
        scope: the subjects it applies to (:data:`SCOPE_RE`): an enterprise or unit, or a sector —
            a sector scope ``sector:power`` also covers ``sector:power/coal``.
        params: integer/str parameters, exactly the names in :data:`PARAMS` for the kind.
        severity: :class:`Severity` of the alerts it raises.
        source: where its values come from (a citation, or ``UNCONFIRMED: …``).
    """

    rule_id: str
    kind: RuleKind
    scope: str
    params: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity = Severity.WARNING
    source: str = "UNCONFIRMED: set by the regulator"

    def applies_to(self, subject: str, sector: str | None) -> bool:
        """True if the rule's scope is ``subject`` itself or a sector prefix of ``sector``."""
        if self.scope == subject:
            return True
        if self.scope.startswith("sector:") and sector:
            code = self.scope.removeprefix("sector:")
            return sector == code or sector.startswith(code + "/")
        return False

    def as_dict(self) -> dict[str, Any]:
        """JSON form (kind and severity as their names)."""
        return {"rule_id": self.rule_id, "kind": self.kind.value, "scope": self.scope, "params": dict(self.params),
                "severity": self.severity.value, "source": self.source}


_RULE_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.:/-]{1,80}$")


def make_rule(rule_id: str, kind: str, scope: str, params: Mapping[str, Any], severity: str = "warning",
              source: str = "UNCONFIRMED: set by the regulator") -> Rule:
    """A validated :class:`Rule`.

    Raises:
        RuleConfigError: unknown kind or severity, malformed id or scope, a missing, extra or
            out-of-range parameter (integers must be > 0; ``band_pct`` ≤ 10,000), or an empty source.
    """
    if not isinstance(rule_id, str) or not _RULE_ID_RE.match(rule_id):
        raise RuleConfigError(f"rule_id {rule_id!r}: 1-80 characters of A-Z a-z 0-9 _ . : / -")
    try:
        k = RuleKind(kind)
    except ValueError:
        raise RuleConfigError(f"kind {kind!r}: one of {', '.join(x.value for x in RuleKind)}") from None
    try:
        sev = Severity(severity)
    except ValueError:
        raise RuleConfigError(f"severity {severity!r}: one of {', '.join(x.value for x in Severity)}") from None
    if not isinstance(scope, str) or not SCOPE_RE.match(scope):
        raise RuleConfigError(f"scope {scope!r}: enterprise:<USCC>, unit:<ORISPL>/<unit> or sector:<code>")
    if not isinstance(source, str) or not source.strip() or len(source) > 500:
        raise RuleConfigError("source: the citation of the rule's values (or 'UNCONFIRMED: …'), 1-500 characters")
    want = PARAMS[k]
    extra = sorted(set(params) - set(want))
    missing = sorted(set(want) - set(params))
    if extra or missing:
        raise RuleConfigError(f"params of {k.value}: need exactly {sorted(want)}"
                              + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
    clean: dict[str, Any] = {}
    for name, allowed in want.items():
        v = params[name]
        if allowed is int:
            if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= _MAX_PARAM:
                raise RuleConfigError(f"params.{name} must be a positive integer, got {v!r}")
            if name == "band_pct" and v > 10_000:
                raise RuleConfigError(f"params.band_pct must be at most 10000 (%), got {v}")
        elif v not in allowed:
            raise RuleConfigError(f"params.{name} must be one of {list(allowed)}, got {v!r}")
        clean[name] = v
    return Rule(rule_id, k, scope, clean, sev, source.strip())


def rule_from_dict(d: Mapping[str, Any]) -> Rule:
    """:func:`make_rule` from a JSON object (keys as :meth:`Rule.as_dict`). Raises RuleConfigError."""
    if not isinstance(d, Mapping):
        raise RuleConfigError("a rule is a JSON object")
    missing = [k for k in ("rule_id", "kind", "scope", "params") if k not in d]
    if missing:
        raise RuleConfigError(f"rule {d.get('rule_id')!r}: missing {missing}")
    if not isinstance(d["params"], Mapping):
        raise RuleConfigError("params must be an object")
    return make_rule(d["rule_id"], d["kind"], d["scope"], d["params"], d.get("severity", "warning"),
                     d.get("source", "UNCONFIRMED: set by the regulator"))


# ----------------------------------------------------------------------------- cited values

#: Monthly data are due 40 natural days after month-end.
MONTHLY_DEADLINE_DAYS: Final = 40
MONTHLY_DEADLINE_SOURCE: Final = (
    "china_rules.md §1 'Monthly 信息化存证 content and deadline': 40 natural days after month-end "
    "(PARTIAL: municipal notice implementing 环办气候函〔2023〕43号; 2021 guideline, secondary)")

#: National ETS coverage threshold: 26,000 tCO2e a year.
COVERAGE_THRESHOLD_KGCO2: Final = 26_000_000
COVERAGE_THRESHOLD_SOURCE: Final = (
    "china_rules.md §1 'Coverage threshold': 2.6万吨二氧化碳当量 a year (CONFIRMED-P, municipal notice "
    "implementing 环办气候函〔2023〕43号)")

#: 2019-2020 supply benchmarks in kgCO2/MWh (coal >300MW 0.877, gas 0.392 tCO2/MWh).
BENCHMARK_KGCO2_PER_MWH: Final = {"coal": 877, "gas": 392}
BENCHMARK_SOURCE: Final = (
    "国环规气候〔2020〕3号 supply benchmarks, china_rules.md §3a (PARTIAL: draft values confirmed, final "
    "inferred unchanged); measured here against gross load, which exceeds electricity supplied")

UNCONFIRMED_NOTE: Final = "UNCONFIRMED: china_rules.md gives no value; the regulator sets it"


def default_power_sector_rules() -> list[Rule]:
    """The power-sector rules the main run applies to the AMPD units (``sector:power/<category>``).

    Absolute: the coverage threshold (cited); intensity: the category's supply benchmark (cited);
    same period: a ±25 % band on annual emissions (UNCONFIRMED — the regulator's choice); missing
    monthly data: the 40-day deadline (cited, PARTIAL); stream rules: the limits of
    :func:`default_meter_rules` (UNCONFIRMED).
    """
    rules = [
        make_rule("power.absolute.coverage", "absolute_threshold", "sector:power",
                  {"period": "year", "limit_kgco2": COVERAGE_THRESHOLD_KGCO2}, "info", COVERAGE_THRESHOLD_SOURCE),
        make_rule("power.same_period.25pct", "same_period_deviation", "sector:power",
                  {"period": "year", "band_pct": 25}, "warning", UNCONFIRMED_NOTE + " (band ±25 %)"),
        make_rule("power.missing_month.40d", "missing_monthly_data", "sector:power",
                  {"deadline_days": MONTHLY_DEADLINE_DAYS}, "warning", MONTHLY_DEADLINE_SOURCE),
    ]
    for cat, limit in BENCHMARK_KGCO2_PER_MWH.items():
        rules.append(make_rule(f"power.intensity.{cat}", "intensity_threshold", f"sector:power/{cat}",
                               {"period": "year", "limit_kgco2_per_mwh": limit}, "warning", BENCHMARK_SOURCE))
    rules += [r for r in default_meter_rules("sector:power")]
    return rules


def default_meter_rules(scope: str) -> list[Rule]:
    """Stream rules for a minute meter (UNCONFIRMED limits: the regulator's choice, none in china_rules.md).

    stuck ≥ 60 minutes at one value; step ≥ 5,000 W between consecutive minutes; gap ≥ 60 minutes
    without readings; imputed run ≥ 60 minutes.
    """
    tag = scope.split(":", 1)[1].replace("/", ".")
    return [
        make_rule(f"{tag}.stream.stuck", "stream_stuck", scope, {"min_minutes": 60}, "warning",
                  UNCONFIRMED_NOTE + " (60 minutes)"),
        make_rule(f"{tag}.stream.step", "stream_step", scope, {"min_step_w": 5_000}, "info",
                  UNCONFIRMED_NOTE + " (5,000 W between consecutive minutes)"),
        make_rule(f"{tag}.stream.gap", "stream_gap", scope, {"min_minutes": 60}, "warning",
                  UNCONFIRMED_NOTE + " (60 minutes)"),
        make_rule(f"{tag}.stream.imputed", "stream_imputed", scope, {"min_minutes": 60}, "critical",
                  UNCONFIRMED_NOTE + " (60 minutes)"),
    ]


def default_enterprise_rules(uscc: str) -> list[Rule]:
    """Rules for one metered enterprise (the main job's): monthly absolute threshold 700 kgCO2
    (UNCONFIRMED, the regulator's choice for this enterprise), monthly intensity (needs an output
    figure), same month of the previous year ±25 % (UNCONFIRMED), missing monthly data after 40
    days (cited), and the meter-stream rules of :func:`default_meter_rules`."""
    scope = f"enterprise:{uscc}"
    return [
        make_rule(f"{uscc}.absolute.month", "absolute_threshold", scope, {"period": "month", "limit_kgco2": 700},
                  "warning", UNCONFIRMED_NOTE + " (700 kgCO2 a month)"),
        make_rule(f"{uscc}.intensity.month", "intensity_threshold", scope,
                  {"period": "month", "limit_kgco2_per_mwh": BENCHMARK_KGCO2_PER_MWH["gas"]}, "warning",
                  UNCONFIRMED_NOTE + " (gas benchmark used as a stand-in)"),
        make_rule(f"{uscc}.same_period.25pct", "same_period_deviation", scope, {"period": "month", "band_pct": 25},
                  "warning", UNCONFIRMED_NOTE + " (band ±25 %)"),
        make_rule(f"{uscc}.missing_month.40d", "missing_monthly_data", scope,
                  {"deadline_days": MONTHLY_DEADLINE_DAYS}, "warning", MONTHLY_DEADLINE_SOURCE),
        *default_meter_rules(scope),
    ]
