"""One Merkle tree per oracle round across devices — the Python mirror of ``MeterRounds``
(docs/meter-rounds.md, issue 12: gas per reading).

A round's tree holds every reading of every device in the round (the leaf of
:func:`ledger.meter_data.reading.reading_leaf`, device-signature hash included) and one
*totals leaf* per (device, calendar month of the owner's clock) the round touches, stating the
device's month-to-date figures at the round's end (:class:`DeviceTotals`). The oracles sign one
:class:`RoundReport` per round (EIP-712 domain ``"CarbonLedger MeterRounds", "1"``); the contract
stores one record per round, so the anchor's fixed cost (≈ 130–143k gas with 3 of 4 signatures) is
shared by all the round's readings. A meter-month is proved with one proof of its totals leaf in
the month's closing round (``MeterRounds.monthTotals``).

Encodings (must match the contract byte for byte)::

    RoundReport struct hash = keccak256(abi.encode(ROUND_REPORT_TYPEHASH, configDigest, start, end,
                                                   devices, readings, root, supersedes))
    totals leaf = keccak256(keccak256(abi.encode(TOTALS_LEAF_TAG, device, year, month, dayMask,
                                                 readings, monthWh, periodWh)))
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from ledger.crypto.primitives import (
    U16_MAX,
    U32_MAX,
    U64_MAX,
    ZERO_BYTES32,
    Eip712Domain,
    check_bytes32,
    check_int,
    keccak256,
)
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree

__all__ = [
    "ROUNDS_DOMAIN_NAME",
    "ROUNDS_DOMAIN_VERSION",
    "ROUND_REPORT_TYPE",
    "ROUND_REPORT_TYPEHASH",
    "TOTALS_LEAF_TAG",
    "RoundReport",
    "DeviceTotals",
    "RoundReading",
    "RoundTree",
    "round_report_struct_hash",
    "round_report_digest",
    "totals_leaf",
    "build_round",
    "month_keys_open_at",
    "with_supersedes",
    "rounds_domain",
]

#: EIP-712 domain of round reports (``MeterRounds`` constructor).
ROUNDS_DOMAIN_NAME, ROUNDS_DOMAIN_VERSION = "CarbonLedger MeterRounds", "1"
ROUND_REPORT_TYPE = (
    b"RoundReport(bytes32 configDigest,uint64 start,uint64 end,uint32 devices,uint64 readings,"
    b"bytes32 root,bytes32 supersedes)"
)
ROUND_REPORT_TYPEHASH = keccak256(ROUND_REPORT_TYPE)
#: First word of a totals leaf's encoding (``MeterRounds.TOTALS_LEAF_TAG``): separates totals
#: leaves from reading leaves (which are nine words starting with a device id).
TOTALS_LEAF_TAG = keccak256(b"CarbonLedger.MeterRounds.DeviceTotals.v1")

# typehash, configDigest, start(u64), end(u64), devices(u32), readings(u64), root, supersedes
_ROUND_STRUCT = struct.Struct(">32s32s24xQ24xQ28xI24xQ32s32s")
# tag, device, year(u16), month(u8), dayMask(u32), readings(u32), monthWh(u64), periodWh(u64)
_TOTALS_STRUCT = struct.Struct(">32s32s30xH31xB28xI28xI24xQ24xQ")
assert _ROUND_STRUCT.size == 8 * 32 and _TOTALS_STRUCT.size == 8 * 32


def rounds_domain(chain_id: int, rounds_address: str | bytes) -> Eip712Domain:
    """The EIP-712 domain round reports are signed in (``MeterRounds`` at ``rounds_address``)."""
    return Eip712Domain(ROUNDS_DOMAIN_NAME, ROUNDS_DOMAIN_VERSION, chain_id, rounds_address)


@dataclass(frozen=True, slots=True)
class RoundReport:
    """An oracle round report (``MeterRounds.RoundReport``).

    Fields (Solidity type, unit):
        config_digest: bytes32, the MeterDataAnchor oracle set's config digest.
        start, end: uint64 UTC seconds, the round ``[start, end)``; rounds tile time.
        devices: uint32, distinct devices with leaves in the tree.
        readings: uint64, reading leaves in the tree (≥ 1).
        root: bytes32 StandardMerkleTree root over reading and totals leaves.
        supersedes: bytes32; zero for a new round, else ``bytes32(uint256(oldRoundId))``.
    """

    config_digest: bytes
    start: int
    end: int
    devices: int
    readings: int
    root: bytes
    supersedes: bytes = field(default=ZERO_BYTES32)

    def validate_ranges(self) -> None:
        """Check every field against its Solidity type.

        Raises:
            InvalidFieldError (a ValueError): naming the first bad field.
        """
        check_bytes32("RoundReport", "configDigest", self.config_digest)
        check_int("RoundReport", "start", self.start, 0, U64_MAX, "uint64")
        check_int("RoundReport", "end", self.end, 0, U64_MAX, "uint64")
        check_int("RoundReport", "devices", self.devices, 0, U32_MAX, "uint32")
        check_int("RoundReport", "readings", self.readings, 0, U64_MAX, "uint64")
        check_bytes32("RoundReport", "root", self.root)
        check_bytes32("RoundReport", "supersedes", self.supersedes)


def round_report_struct_hash(r: RoundReport) -> bytes:
    """EIP-712 ``hashStruct(report)``, 32 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    r.validate_ranges()
    return keccak256(_ROUND_STRUCT.pack(ROUND_REPORT_TYPEHASH, r.config_digest, r.start, r.end, r.devices,
                                        r.readings, r.root, r.supersedes))


def round_report_digest(domain_separator: bytes, r: RoundReport) -> bytes:
    """EIP-712 digest each oracle signs for a round report (``MeterRounds.reportDigest``), 32 bytes.

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: bad field.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    return keccak256(b"\x19\x01" + domain_separator + round_report_struct_hash(r))


@dataclass(frozen=True, slots=True)
class DeviceTotals:
    """A device's month-to-date figures at the end of a round (``MeterRounds.DeviceTotals``).

    Fields (Solidity type, unit):
        device: bytes32 device id.
        year, month: uint16, uint8 — the calendar month on the device owner's clock (1..12).
        day_mask: uint32, bit d-1 set = local day d has at least one reading so far.
        readings: uint32, readings of the month so far.
        month_wh: uint64 Wh, ⌊Σ(W × s)/3600 + ½⌋ over the month's readings so far (DESIGN.md §5).
        period_wh: uint64 Wh, the same over the month's readings inside this round.
    """

    device: bytes
    year: int
    month: int
    day_mask: int
    readings: int
    month_wh: int
    period_wh: int

    def validate_ranges(self) -> None:
        """Check every field against its Solidity type (and month in 1..12).

        Raises:
            InvalidFieldError (a ValueError): naming the first bad field.
        """
        check_bytes32("DeviceTotals", "device", self.device)
        check_int("DeviceTotals", "year", self.year, 0, U16_MAX, "uint16")
        check_int("DeviceTotals", "month", self.month, 1, 12, "a month 1..12")
        check_int("DeviceTotals", "dayMask", self.day_mask, 0, U32_MAX, "uint32")
        check_int("DeviceTotals", "readings", self.readings, 0, U32_MAX, "uint32")
        check_int("DeviceTotals", "monthWh", self.month_wh, 0, U64_MAX, "uint64")
        check_int("DeviceTotals", "periodWh", self.period_wh, 0, U64_MAX, "uint64")

    def as_struct(self) -> tuple[bytes, int, int, int, int, int, int]:
        """The ABI tuple (Solidity field order) for ``MeterRounds.monthTotals``."""
        return (self.device, self.year, self.month, self.day_mask, self.readings, self.month_wh, self.period_wh)


def totals_leaf(t: DeviceTotals) -> bytes:
    """StandardMerkleTree leaf of a totals record (``MeterRounds.totalsLeaf``), 32 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    t.validate_ranges()
    return keccak256(keccak256(_TOTALS_STRUCT.pack(TOTALS_LEAF_TAG, t.device, t.year, t.month, t.day_mask,
                                                   t.readings, t.month_wh, t.period_wh)))


@dataclass(frozen=True, slots=True)
class RoundReading:
    """What a round needs of one accepted reading: its device, interval (UTC s), average W and
    the 32-byte Merkle leaf (:func:`ledger.meter_data.reading.reading_leaf`)."""

    device: bytes
    start: int
    end: int
    watts: int
    leaf: bytes


@dataclass(frozen=True)
class _MonthAcc:
    day_mask: int = 0
    readings: int = 0
    watt_seconds: int = 0


@dataclass
class RoundTree:
    """A built round: the report fields, the tree and where each leaf is.

    Attributes:
        start, end: the round, UTC seconds.
        tree: the StandardMerkleTree over ``reading_leaves`` then ``totals`` leaves (input order).
        reading_leaves: the readings' leaves, input order (index k = tree input k).
        totals: one :class:`DeviceTotals` per (device, month) touched; tree input
            ``len(reading_leaves) + j``.
        month_to_date: (device, year, month) → accumulated figures after this round (the
            ``previous`` argument of the next round's :func:`build_round`).
    """

    start: int
    end: int
    tree: StandardMerkleTree
    reading_leaves: list[bytes]
    totals: list[DeviceTotals]
    month_to_date: dict[tuple[bytes, int, int], _MonthAcc]

    @property
    def root(self) -> bytes:
        """The tree's 32-byte root."""
        return self.tree.root

    @property
    def devices(self) -> int:
        """Distinct devices with readings in the round."""
        return len({t.device for t in self.totals if t.period_wh or t.readings})

    def report(self, config_digest: bytes, supersedes: bytes = ZERO_BYTES32) -> RoundReport:
        """The round report the oracles sign."""
        return RoundReport(config_digest, self.start, self.end, self.devices, len(self.reading_leaves), self.root,
                           supersedes)

    def reading_proof(self, index: int) -> list[bytes]:
        """Merkle proof of reading leaf ``index`` (input order)."""
        return self.tree.proof(index)

    def totals_for(self, device: bytes, year: int, month: int) -> tuple[DeviceTotals, list[bytes]]:
        """The totals leaf of (device, year, month) in this round and its proof.

        Raises:
            KeyError: the round holds no totals leaf for it.
        """
        for j, t in enumerate(self.totals):
            if (t.device, t.year, t.month) == (device, year, month):
                return t, self.tree.proof(len(self.reading_leaves) + j)
        raise KeyError(f"no totals leaf for device {device.hex()} {year}-{month:02d} in round [{self.start}, {self.end})")


def _local_day(t: int, utc_offset_s: int) -> date:
    return datetime.fromtimestamp(t + utc_offset_s, UTC).date()


def build_round(start: int, end: int, readings: Iterable[RoundReading], utc_offsets: Mapping[bytes, int],
                previous: Mapping[tuple[bytes, int, int], _MonthAcc] | None = None,
                carried: Sequence[tuple[bytes, int, int]] = ()) -> RoundTree:
    """Build the tree of the round ``[start, end)`` (UTC seconds) over ``readings``.

    Each reading is attributed to the calendar month and day of its start on its owner's clock
    (``utc_offsets[device]``, seconds east of UTC); rounds are cut so that no reading straddles a
    local midnight (minute readings always). Month-to-date figures continue ``previous`` (the
    previous round's :attr:`RoundTree.month_to_date`, None for the first round); a totals leaf is
    written for every (device, month) with readings in this round and for every ``carried``
    (device, year, month) — devices of a month with no reading in this round still restate their
    month-to-date, so the month's closing round holds a leaf for each device of the month.

    Raises:
        ValueError: no readings, ``start >= end``, a reading outside the round, or a device with
            no UTC offset. InvalidFieldError: a figure beyond its Solidity type.
    """
    if start >= end:
        raise ValueError(f"a round needs start < end, got [{start}, {end})")
    acc: dict[tuple[bytes, int, int], _MonthAcc] = dict(previous or {})
    period_ws: dict[tuple[bytes, int, int], int] = {}
    leaves: list[bytes] = []
    for r in readings:
        if not (start <= r.start < r.end <= end):
            raise ValueError(f"reading [{r.start}, {r.end}) of device {r.device.hex()} is outside the round [{start}, {end})")
        if r.device not in utc_offsets:
            raise ValueError(f"no UTC offset for device {r.device.hex()}")
        day = _local_day(r.start, utc_offsets[r.device])
        key = (r.device, day.year, day.month)
        a = acc.get(key, _MonthAcc())
        ws = (r.end - r.start) * r.watts
        acc[key] = _MonthAcc(a.day_mask | (1 << (day.day - 1)), a.readings + 1, a.watt_seconds + ws)
        period_ws[key] = period_ws.get(key, 0) + ws
        leaves.append(r.leaf)
    if not leaves:
        raise ValueError(f"round [{start}, {end}) has no readings")
    keys = list(period_ws) + [k for k in carried if k not in period_ws and k in acc]
    totals = [DeviceTotals(d, y, m, acc[(d, y, m)].day_mask, acc[(d, y, m)].readings,
                           energy_wh(acc[(d, y, m)].watt_seconds), energy_wh(period_ws.get((d, y, m), 0)))
              for d, y, m in keys]
    tree = StandardMerkleTree.from_leaf_hashes(leaves + [totals_leaf(t) for t in totals])
    return RoundTree(start, end, tree, leaves, totals, acc)


def month_keys_open_at(month_to_date: Mapping[tuple[bytes, int, int], _MonthAcc], t: int,
                       utc_offsets: Mapping[bytes, int]) -> list[tuple[bytes, int, int]]:
    """The (device, year, month) keys of ``month_to_date`` whose month (owner's clock) contains
    the UTC second ``t`` — the ``carried`` argument of the next round starting at ``t``."""
    out = []
    for d, y, m in month_to_date:
        day = _local_day(t, utc_offsets[d])
        if (day.year, day.month) == (y, m):
            out.append((d, y, m))
    return out


def with_supersedes(report: RoundReport, old_round_id: int) -> RoundReport:
    """``report`` as a correction of round ``old_round_id`` (supersedes = bytes32(id))."""
    check_int("RoundReport", "supersedes", old_round_id, 1, U64_MAX, "a non-zero round id")
    return replace(report, supersedes=old_round_id.to_bytes(32, "big"))

