"""Cumulative-counter meters: energy registers that only increase.

A register sample is ``(device, t, R)``: the meter's cumulative energy count R in Wh at UTC
second t (:data:`oracles.quantities.ENERGY_REGISTER`). Interval energy comes from deltas of
consecutive samples of a device: ``[t0, t1)`` has ``R1 − R0`` Wh
(:data:`oracles.quantities.INTERVAL_ENERGY`). A missing sample does not lose energy: the next
delta simply spans the longer interval (it is still reported as a gap in the sample series).

Rules (DESIGN.md §7 "cumulative counters monotonic"; nothing silently dropped):

* ``R1 < R0`` — a meter reset or tamper: the sample is quarantined with reason
  :data:`COUNTER_RESET_OR_TAMPER` and no energy is derived for ``[t0, t1)``; the register
  re-baselines at R1, so later intervals are derived from the new count (a verifier decides
  whether it was a reset or tampering);
* ``(R1 − R0) × 3600 / (t1 − t0)`` above the code-1 power bound (1 GW) — quarantined
  ``implausible_value``, the register re-baselines likewise;
* equal timestamps are the data-quality report's business (identical → idempotent duplicate,
  different → conflicting); :func:`derive_intervals` expects one sample per timestamp.

No real register data is at hand: :func:`derive_register_from_minutes` builds a DERIVED register
from minute power readings (e.g. the UCI minutes) by summation, for tests and demos only.

Register CSV layout read by :func:`load_register_csv`: header ``device,timestamp_utc,register_wh``
(case-insensitive; timestamp as ISO 8601 with ``Z``/offset or integer UTC seconds; register a
non-negative integer Wh).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from oracles.formats import Reject, csv_columns, data_rows, parse_iso_utc
from oracles.quantities import ACTIVE_POWER, ENERGY_REGISTER

__all__ = [
    "COUNTER_RESET_OR_TAMPER",
    "IMPLAUSIBLE_VALUE",
    "CounterQuarantine",
    "CounterSeries",
    "IntervalEnergy",
    "RegisterData",
    "RegisterFormatError",
    "RegisterSample",
    "derive_intervals",
    "derive_register_from_minutes",
    "load_register_csv",
]

#: Quarantine reason of a register decrease.
COUNTER_RESET_OR_TAMPER: Final = "counter_reset_or_tamper"
#: Quarantine reason of an increase faster than the power bound allows.
IMPLAUSIBLE_VALUE: Final = "implausible_value"


class RegisterFormatError(ValueError):
    """Empty file or header without device/timestamp_utc/register_wh."""


@dataclass(frozen=True, slots=True)
class RegisterSample:
    """One register reading: ``register_wh`` Wh counted up to UTC second ``t``.

    ``line`` is the 1-based data row (0 for derived samples); ``derived`` marks samples made by
    :func:`derive_register_from_minutes` rather than read from a meter.
    """

    device: str
    t: int
    register_wh: int
    line: int = 0
    derived: bool = False


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """Energy over ``[start, end)`` derived from two register samples, in Wh."""

    device: str
    start: int
    end: int
    wh: int
    register_start: int
    register_end: int


@dataclass(frozen=True, slots=True)
class CounterQuarantine:
    """An interval whose energy could not be derived: ``[start, end)``, reason, the sample's line."""

    device: str
    start: int
    end: int
    reason: str
    detail: str
    line: int


@dataclass
class CounterSeries:
    """Result of :func:`derive_intervals` for one device."""

    device: str
    intervals: list[IntervalEnergy]
    quarantined: list[CounterQuarantine]

    @property
    def total_wh(self) -> int:
        """Σ Wh over the derived intervals (quarantined intervals contribute nothing)."""
        return sum(i.wh for i in self.intervals)


@dataclass
class RegisterData:
    """Result of :func:`load_register_csv`: samples in file order, rejects, source."""

    samples: list[RegisterSample]
    rejects: list[Reject]
    source: str


def derive_intervals(samples: Iterable[RegisterSample]) -> CounterSeries:
    """Interval energy from one device's register samples.

    Args:
        samples: one device's samples with distinct timestamps (any order; sorted here).

    Returns:
        :class:`CounterSeries`: an :class:`IntervalEnergy` per increasing (or equal) step, a
        :class:`CounterQuarantine` per decrease (``counter_reset_or_tamper``) or implausibly
        fast increase (``implausible_value``).

    Raises:
        ValueError: samples of several devices, two samples with the same timestamp, or a
            negative register value.
    """
    ordered = sorted(samples, key=lambda s: s.t)
    devices = {s.device for s in ordered}
    if len(devices) > 1:
        raise ValueError(f"samples of several devices: {sorted(devices)}")
    device = ordered[0].device if ordered else ""
    intervals: list[IntervalEnergy] = []
    quarantined: list[CounterQuarantine] = []
    prev: RegisterSample | None = None
    for s in ordered:
        if not ENERGY_REGISTER.plausible(s.register_wh):
            raise ValueError(f"register value {s.register_wh} at t={s.t} is negative")
        if prev is not None:
            if s.t == prev.t:
                raise ValueError(f"two samples at t={s.t}; deduplicate first (data_quality)")
            delta = s.register_wh - prev.register_wh
            seconds = s.t - prev.t
            if delta < 0:
                quarantined.append(CounterQuarantine(
                    device, prev.t, s.t, COUNTER_RESET_OR_TAMPER,
                    f"register fell from {prev.register_wh} to {s.register_wh} Wh", s.line))
            elif delta * 3_600 > ACTIVE_POWER.maximum * seconds:
                quarantined.append(CounterQuarantine(
                    device, prev.t, s.t, IMPLAUSIBLE_VALUE,
                    f"{delta} Wh in {seconds} s exceeds {ACTIVE_POWER.maximum} W", s.line))
            else:
                intervals.append(IntervalEnergy(device, prev.t, s.t, delta, prev.register_wh, s.register_wh))
        prev = s
    return CounterSeries(device, intervals, quarantined)


def derive_register_from_minutes(
    minutes: Iterable[tuple[int, int]], device: str = "derived-register", initial_wh: int = 0
) -> list[RegisterSample]:
    """A DERIVED energy register from minute average-power readings (no real register data).

    The register counts ⌊Σ W·s / 3600⌋ Wh, as a meter's integer Wh display would. One sample at
    the start of the first minute and one at the end of every minute; a minute missing from the
    input leaves its energy uncounted (the register samples around it simply step over it).

    Args:
        minutes: ``(start UTC s, average W)`` per minute, increasing ``start``.
        device: device label of the samples.
        initial_wh: register value before the first minute.

    Returns:
        Samples flagged ``derived=True``.
    """
    samples: list[RegisterSample] = []
    watt_seconds = initial_wh * 3_600
    for start, watts in minutes:
        if not samples:
            samples.append(RegisterSample(device, start, watt_seconds // 3_600, 0, True))
        watt_seconds += watts * 60
        samples.append(RegisterSample(device, start + 60, watt_seconds // 3_600, 0, True))
    return samples


def load_register_csv(path: Path | str) -> RegisterData:
    """Load register samples from ``device,timestamp_utc,register_wh`` CSV.

    Returns:
        :class:`RegisterData`; malformed rows (bad timestamp, non-integer or negative register,
        empty device) are rejects with their line.

    Raises:
        FileNotFoundError: no such file.
        RegisterFormatError: empty file or required columns missing.
    """
    p = Path(path)
    samples: list[RegisterSample] = []
    rejects: list[Reject] = []
    with csv_columns(p, ("device", "timestamp_utc", "register_wh"), RegisterFormatError) as (reader, cols, header):
        i_d, i_t, i_r = cols["device"], cols["timestamp_utc"], cols["register_wh"]
        for line, row in data_rows(reader, max(i_d, i_t, i_r) + 1, rejects):
            device = row[i_d].strip()
            if not device:
                rejects.append(Reject.of(line, "empty device", row))
                continue
            try:
                t = parse_iso_utc(row[i_t])
            except ValueError as exc:
                rejects.append(Reject.of(line, f"bad timestamp_utc: {exc}", row))
                continue
            text = row[i_r].strip()
            if not text.isdigit():
                rejects.append(Reject.of(line, f"register_wh {text!r} is not a non-negative integer", row))
                continue
            samples.append(RegisterSample(device, t, int(text), line))
    return RegisterData(samples, rejects, str(p))
