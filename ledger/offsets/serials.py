"""CCER serial numbers: the registry's serial strings: registry serial strings, the
Settlement trade tuple and reason codes, the CCER retirement request, and a Python mirror of the
registry's serial allocation (``SerialBook``) that tests compare with the contract.

Units: asset quantities in whole tCO2e (1 token = 1 tCO2e), money in fen (分), prices in fen per
tCO2e (DESIGN.md §5).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto.primitives import keccak256

# ----------------------------------------------------------------------------- serial numbers
#: Largest serial number the registry accepts (serials are 1 … 2^64-2).
MAX_SERIAL = (1 << 64) - 2

_SERIAL_RE = re.compile(r"(.*?)(\d+) to (\d+)")


@dataclass(frozen=True)
class SerialRange:
    """Serials ``prefix + n + suffix`` for every n in ``start…end`` (inclusive), as the registries
    write them: ``<prefix><start> to <end>`` (ACR / CAR), or with a ``suffix`` after the number
    (VCS: ``…-<n>-<tail>``).

    ``prefix`` names the serial block (e.g. ``"ACR-US-102-2003-274-"``); ``series`` the numbering
    space the numbers belong to (prefix and suffix around ``*``): two ranges can overlap only
    within one series, and the registry keys its serial blocks by it. 1 <= start <= end <=
    MAX_SERIAL for a range the registry accepts; :data:`NO_SERIALS` (``"", 0, 0``) means "no
    serials". An export's range may lack a prefix (GOLD's bare numbers): the registry refuses it.
    """

    prefix: str
    start: int
    end: int
    suffix: str = ""

    @property
    def count(self) -> int:
        """Number of serials (= tCO2e) in the range (0 for NO_SERIALS)."""
        return 0 if not self.prefix and not self.start else self.end - self.start + 1

    @property
    def series(self) -> str:
        """The numbering space: the prefix, or ``prefix*suffix`` when a suffix follows the number."""
        return f"{self.prefix}*{self.suffix}" if self.suffix else self.prefix

    @property
    def prefix_hash(self) -> bytes:
        """keccak256 of the prefix as the registry stores it (32 zero bytes for no prefix)."""
        return keccak256(self.prefix.encode()) if self.prefix else bytes(32)

    def overlaps(self, other: SerialRange) -> bool:
        """Whether the two ranges share a serial (same series and intersecting numbers)."""
        return self.series == other.series and self.start <= other.end and other.start <= self.end

    def __str__(self) -> str:
        if not self.prefix and not self.start:
            return ""
        if self.suffix:
            return f"{self.prefix}{self.start}{self.suffix} to {self.prefix}{self.end}{self.suffix}"
        return f"{self.prefix}{self.start} to {self.end}"


NO_SERIALS = SerialRange("", 0, 0)


def parse_serial_range(text: str) -> SerialRange:
    """Parse a registry serial string such as ``"ACR-US-102-2003-274-120158095 to 120158156"``
    or ``"CAR-1-US-1008-27-845-WA-2015-2010-1 to 8645"`` into (prefix, start, end).

    The prefix is everything before the last run of digits of the left part; the right part is
    the last serial in full.

    Raises:
        ValueError: the text is not ``<prefix><digits> to <digits>``, the prefix is empty, start
            is 0, end < start, or end exceeds MAX_SERIAL.
    """
    m = _SERIAL_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a serial range '<prefix><start> to <end>'")
    prefix, start, end = m.group(1), int(m.group(2)), int(m.group(3))
    if not prefix:
        raise ValueError(f"{text!r} has no serial prefix")
    if start == 0 or end < start:
        raise ValueError(f"{text!r}: serials must satisfy 1 <= start <= end (got {start}, {end})")
    if end > MAX_SERIAL:
        raise ValueError(f"{text!r}: serial {end} exceeds {MAX_SERIAL}")
    return SerialRange(prefix, start, end)


# ----------------------------------------------------------------------------- retirement
@dataclass(frozen=True)
class RetirementRequest:
    """Arguments of ``CCERRegistry.retire`` (tCO2e). ``serials`` NO_SERIALS = let the registry
    allocate the lowest free serials (or record none for a batch without serials)."""

    holder: str
    batch_id: int
    amount: int
    beneficiary: str
    purpose: str
    reason: str = ""
    serials: SerialRange = NO_SERIALS

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple (holder, batchId, amount, serialPrefix, serialStart, serialEnd,
        beneficiary, purpose, reason)."""
        s = self.serials
        return (self.holder, self.batch_id, self.amount, s.prefix, s.start, s.end,
                self.beneficiary, self.purpose, self.reason)


class SerialsRefused(ValueError):
    """The Python mirror refuses a retirement; ``error`` is the contract's custom error name."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error


#: Serial statuses as CCERRegistry.SerialStatus numbers them (Unissued 0, Active 1, then the
#: out-of-circulation statuses, which are also the tags of its marked ranges).
SERIAL_STATUSES = ("unissued", "active", "retired", "cancelled", "surrendered")
#: The statuses a serial leaves circulation with (retire 注销, cancel, surrender 清缴).
OUT_OF_CIRCULATION = ("retired", "cancelled", "surrendered")


@dataclass(frozen=True)
class SurrenderedSerials:
    """One piece of a CCER surrender as CCERRegistry's ``SerialsSurrendered`` event records it:
    ``amount`` tCO2e of batch ``batch_id`` with serials ``serials`` (NO_SERIALS for a batch
    without serials)."""

    batch_id: int
    amount: int
    serials: SerialRange


@dataclass
class SerialBook:
    """Python mirror of CCERRegistry's serial bookkeeping for batches (allocation of the lowest
    free serials, explicit ranges, overlap refusals, the status of each serial out of
    circulation, surrender of a CCER id), for comparing with the contract.

    ``batches`` maps batch id → (prefix, start, end, amount) with prefix "" for no serials;
    ``retired`` maps prefix → sorted list of (start, end) of every range out of circulation
    (retired, cancelled or surrendered: ``status`` gives which), as recorded (the contract merges
    adjacent ranges of one status: :meth:`marked_runs`); ``assets`` maps batch id → CCER token id
    when :meth:`issue` was told it (needed by :meth:`surrender`).
    """

    batches: dict[int, tuple[str, int, int, int]] = field(default_factory=dict)
    retired: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    issued: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    retired_count: dict[int, int] = field(default_factory=dict)
    owners: dict[tuple[str, str, int, int], Any] = field(default_factory=dict)
    status: dict[tuple[str, int, int], str] = field(default_factory=dict)
    assets: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def _overlap(ranges: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
        i = bisect.bisect_right(ranges, (end, MAX_SERIAL + 1)) - 1
        if i >= 0 and ranges[i][1] >= start:
            return ranges[i]
        return None

    def overlapping(self, kind: str, series: str, start: int, end: int) -> tuple[int, int, Any] | None:
        """An ``issued`` or ``retired`` range of ``series`` sharing a serial with ``start…end``, as
        (start, end, owner given to :meth:`record`), or None."""
        hit = self._overlap((self.issued if kind == "issued" else self.retired).get(series, []), start, end)
        return None if hit is None else (*hit, self.owners.get((kind, series, *hit)))

    def record(self, kind: str, series: str, start: int, end: int, owner: Any = None, status: str = "retired") -> None:
        """Book ``start…end`` of ``series`` as ``issued`` or ``retired`` (out of circulation with
        ``status``: retired, cancelled or surrendered) (the caller checked overlaps)."""
        bisect.insort((self.issued if kind == "issued" else self.retired).setdefault(series, []), (start, end))
        if kind != "issued":
            if status not in OUT_OF_CIRCULATION:
                raise ValueError(f"status {status!r} is not one of {OUT_OF_CIRCULATION}")
            self.status[series, start, end] = status
        if owner is not None:
            self.owners[kind, series, start, end] = owner

    def marked_runs(self, series: str) -> list[tuple[int, int, str]]:
        """The ranges out of circulation of ``series`` as the contract stores them: (start, end,
        status), adjacent ranges of one status merged, ordered by start."""
        out: list[tuple[int, int, str]] = []
        for a, b in self.retired.get(series, []):
            st = self.status.get((series, a, b), "retired")
            if out and out[-1][1] + 1 == a and out[-1][2] == st:
                out[-1] = (out[-1][0], b, st)
            else:
                out.append((a, b, st))
        return out

    def marked_overlap(self, series: str, start: int, end: int) -> tuple[int, int, str] | None:
        """The merged range out of circulation overlapping ``start…end`` that starts last, as
        CCERRegistry.retiredOverlap (with its status), or None."""
        hits = [r for r in self.marked_runs(series) if r[0] <= end and r[1] >= start]
        return max(hits) if hits else None

    def serial_state(self, series: str, serial: int) -> tuple[str, int, int]:
        """(status, runStart, runEnd) of one serial as CCERRegistry.serialState: the merged marked
        range holding it, or for an active serial the free run around it inside its issued
        range, or ("unissued", 0, 0)."""
        runs = self.marked_runs(series)
        for a, b, st in runs:
            if a <= serial <= b:
                return (st, a, b)
        issued = self._overlap(self.issued.get(series, []), serial, serial)
        if issued is None:
            return ("unissued", 0, 0)
        s, e = issued
        for a, b, _ in runs:
            if b < serial and b >= s:
                s = b + 1
            if a > serial and a <= e:
                e = min(e, a - 1)
        return ("active", s, e)

    def issue(self, batch_id: int, serials: SerialRange, amount: int, asset_id: int | None = None) -> None:
        """Record batch ``batch_id`` of CCER token ``asset_id`` (refusals as the contract's
        issueBatch, including its uint64 amount bound: InvalidAmount). Ranges out of
        circulation lie inside issued batches, so an unissued range is never retired: the
        contract checks only SerialsAlreadyIssued."""
        if not 0 < amount < 2**64:
            raise SerialsRefused("InvalidAmount", f"{amount} is not in 1…2^64-1")
        if serials.prefix:
            if serials.count != amount:
                raise SerialsRefused("SerialCountMismatch", f"{amount} != {serials.count}")
            if self._overlap(self.issued.get(serials.prefix, []), serials.start, serials.end):
                raise SerialsRefused("SerialsAlreadyIssued", str(serials))
            self.record("issued", serials.prefix, serials.start, serials.end)
        self.batches[batch_id] = (serials.prefix, serials.start, serials.end, amount)
        self.retired_count[batch_id] = 0
        if asset_id is not None:
            self.assets[batch_id] = asset_id

    def surrender(self, asset_id: int, amount: int) -> list[SurrenderedSerials]:
        """The pieces a CCER surrender of ``amount`` tCO2e of ``asset_id`` takes, as
        CCERRegistry.recordSurrender: the batches of that id oldest (lowest id) first, in each
        the lowest free serials run by run (a batch without serials without serials); they are
        recorded as surrendered.

        Raises:
            SerialsRefused: InvalidAmount (outside 1…2^64-1); UnitsNotInBatches when the batches
            of the id hold fewer units in circulation.
        """
        if not 0 < amount < 2**64:
            raise SerialsRefused("InvalidAmount", f"{amount} is not in 1…2^64-1")
        ids = sorted(b for b, a in self.assets.items() if a == asset_id)
        free = sum(self.batches[b][3] - self.retired_count[b] for b in ids)
        if free < amount:
            raise SerialsRefused("UnitsNotInBatches", f"{free} < {amount}")
        out: list[SurrenderedSerials] = []
        left = amount
        for b in ids:
            prefix, _, _, bamount = self.batches[b]
            take = min(bamount - self.retired_count[b], left)
            if take == 0:
                continue
            left -= take
            self.retired_count[b] += take
            if not prefix:
                out.append(SurrenderedSerials(b, take, NO_SERIALS))
            while prefix and take:
                s, e = self.next_free_run(b)
                n = min(e - s + 1, take)
                self.record("retired", prefix, s, s + n - 1, status="surrendered")
                out.append(SurrenderedSerials(b, n, SerialRange(prefix, s, s + n - 1)))
                take -= n
            if left == 0:
                break
        return out

    def next_free_run(self, batch_id: int) -> tuple[int, int]:
        """(runStart, runEnd) of the lowest free serials of a batch with serials, (0, 0) if none."""
        prefix, bstart, bend, _ = self.batches[batch_id]
        if not prefix:
            return (0, 0)
        s = bstart
        for a, b in self.retired.get(prefix, []):
            if b < s:
                continue
            if a <= s:
                s = b + 1
                continue
            break
        if s > bend:
            return (0, 0)
        nxt = [a for a, _ in self.retired.get(prefix, []) if a > s]
        return (s, min(min(nxt) - 1, bend) if nxt else bend)

    def retire(self, batch_id: int, amount: int, serials: SerialRange = NO_SERIALS, status: str = "retired") -> SerialRange:
        """The serials a retirement (or, with ``status="cancelled"``, a cancellation, which takes
        the lowest free serials the same way) records (NO_SERIALS for none), or SerialsRefused.

        Raises:
            SerialsRefused: as the contract (InvalidAmount for an amount outside 1…2^64-1, the
            contract's uint64 bound; SerialsAlreadySurrendered / SerialsAlreadyRetired for a named
            range overlapping surrendered / retired or cancelled serials).
        """
        if not 0 < amount < 2**64:
            raise SerialsRefused("InvalidAmount", f"{amount} is not in 1…2^64-1")
        prefix, bstart, bend, bamount = self.batches[batch_id]
        if self.retired_count[batch_id] + amount > bamount:
            raise SerialsRefused("BatchExhausted", f"{bamount - self.retired_count[batch_id]} left")
        if not serials.prefix:
            if not prefix:
                self.retired_count[batch_id] += amount
                return NO_SERIALS
            s, e = self.next_free_run(batch_id)
            if e - s + 1 < amount:
                raise SerialsRefused("SerialsFragmented", f"run {s}..{e}")
            out = SerialRange(prefix, s, s + amount - 1)
        else:
            if serials.count != amount:
                raise SerialsRefused("SerialCountMismatch", f"{amount} != {serials.count}")
            # v2: a batch without serials has no block to name a range in (no invented range)
            if not prefix or serials.prefix != prefix or serials.start < bstart or serials.end > bend:
                raise SerialsRefused("SerialsOutsideBatch", str(serials))
            hit = self.marked_overlap(serials.prefix, serials.start, serials.end)
            if hit is not None:
                raise SerialsRefused("SerialsAlreadySurrendered" if hit[2] == "surrendered" else "SerialsAlreadyRetired",
                                     f"{serials} overlaps {hit[0]}…{hit[1]} ({hit[2]})")
            out = serials
        self.record("retired", out.prefix, out.start, out.end, status=status)
        self.retired_count[batch_id] += amount
        return out




_ONE_SERIAL_RE = re.compile(r"(.*?)(\d+)")


def parse_serial(text: str) -> tuple[str, int]:
    """Split one registry serial such as ``"CCER-CN-1001-2021-57"`` into (prefix, number): the
    prefix is everything before the last run of digits.

    Raises:
        ValueError: no prefix, no trailing number, number 0 or above MAX_SERIAL.
    """
    m = _ONE_SERIAL_RE.fullmatch(text.strip())
    if not m or not m.group(1):
        raise ValueError(f"{text!r} is not a serial '<prefix><number>'")
    n = int(m.group(2))
    if not 1 <= n <= MAX_SERIAL:
        raise ValueError(f"{text!r}: serial number must be in 1…{MAX_SERIAL}")
    return m.group(1), n
