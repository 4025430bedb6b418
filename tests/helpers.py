"""Test helpers: build readings, trees and oracle-signed batch reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.crypto.primitives import Signer, keccak256
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import BatchReport, Reading, batch_report_digest, reading_digest, reading_leaf
from ledger.records import workflow

DAY0 = 1_167_606_000  # 2007-01-01T00:00:00+01:00 in UTC seconds
#: Signature slot of readings in contract tests whose subject is not the device signature (the
#: anchor does not check device signatures — the oracles do); ``verifyReading`` refuses them.
NO_DEVICE_SIGNATURE = bytes(65)


def minute_readings(device: bytes, start: int, watts: list[int], first_seq: int = 1) -> list[Reading]:
    """Consecutive one-minute readings from ``start`` with the given average W."""
    return [Reading(device, first_seq + i, start + 60 * i, start + 60 * (i + 1), 1, w, 0, 0) for i, w in enumerate(watts)]


def sign_readings(readings: list[Reading], separator: bytes, device_key: bytes) -> list[bytes]:
    """The device's EIP-712 signature of each reading."""
    s = Signer(device_key)
    return [s.sign_digest(reading_digest(separator, r)) for r in readings]


def report_for(readings: list[Reading], config_digest: bytes, start: int, end: int, supersedes: bytes = bytes(32),
               signatures: Sequence[bytes] | None = None) -> tuple[BatchReport, StandardMerkleTree]:
    """The batch report (and tree) of ``readings`` over [start, end); leaves carry the hash of each
    reading's device signature (:data:`NO_DEVICE_SIGNATURE` when ``signatures`` is None)."""
    sigs = list(signatures) if signatures is not None else [NO_DEVICE_SIGNATURE] * len(readings)
    tree = StandardMerkleTree.from_leaf_hashes([reading_leaf(r, s) for r, s in zip(readings, sigs, strict=True)])
    wh = energy_wh(sum((r.end - r.start) * r.value for r in readings))
    return BatchReport(config_digest, readings[0].device, start, end, len(readings), wh, tree.root, supersedes), tree


def sign_report(report: BatchReport, separator: bytes, signers: list[Signer]) -> list[bytes]:
    """Oracle signatures over the report's EIP-712 digest."""
    d = batch_report_digest(separator, report)
    return [s.sign_digest(d) for s in signers]


def as_tuple(x: BatchReport | Reading) -> tuple[Any, ...]:
    """ABI tuple of a report or reading."""
    if isinstance(x, BatchReport):
        return (x.config_digest, x.device, x.start, x.end, x.count, x.total_wh, x.root, x.supersedes)
    return (x.device, x.sequence, x.start, x.end, x.quantity_code, x.value, x.scale, x.flags)


#: Substitute Wh the tests' regulator assesses for a declared gap.
GAP_SUBSTITUTE_WH = 1_000


def declare_gap(w: Any, year: int, month: int, day_mask: int, substitute_wh: int = GAP_SUBSTITUTE_WH,
                who: str = "enterprise") -> None:
    """``who`` declares the days of ``day_mask`` (bit d − 1 = day d) of its meter's month as a gap
    and the regulator assesses ``substitute_wh`` for it (EmissionsRegistry.declareGap / assessGap),
    so a month anchored only in part can be recorded (issue 12)."""
    em = w.dep.emissions.functions
    w.tx(em.declareGap(w.device, year, month, day_mask, keccak256(b"test gap")), who)
    w.tx(em.assessGap(w.device, year, month, substitute_wh, keccak256(b"test substitute")), "regulator")


def all_days_but(days: list[int], days_in_month: int = 31) -> int:
    """Day mask of every day of the month except ``days`` (1-based)."""
    return sum(1 << (d - 1) for d in range(1, days_in_month + 1) if d not in days)



def confirm_purchase(w: Any, month: int, wh: int, year: int = 2007, device: bytes | None = None) -> int:
    """The world's meter (``w.device``, of ``enterprise``; or ``device``, another meter of it): one batch anchored over the whole local
    month holding a one-hour reading of ``wh`` W (= ``wh`` Wh), the meter enrolled, the month recorded
    with the enterprise-year's assigned factor set, attested by ``verifier`` and confirmed by the
    regulator (an EmissionsRegistry Confirmed purchased-electricity record). Returns the record id."""
    dep, acct = w.dep, w.acct
    org = bytes(dep.participants.orgOf(acct["enterprise"]))
    win = dep.emissions.monthWindow(org, year, month)
    seq = 1 + 100_000 * (year - 2000) + 1_000 * month
    meter = w.device if device is None else device
    reading = Reading(meter, seq, win.start, win.start + 3_600, 1, wh, 0, 0)
    report, _ = report_for([reading], bytes(dep.anchor.configDigest()), win.start, win.end)
    assert report.total_wh == wh
    sigs = sign_report(report, dep.domain.separator, [w.oracle_signer(i) for i in (1, 2, 3)])
    w.tx(dep.anchor.functions.anchor(as_tuple(report), sigs), "oracle-1")
    workflow.enrol_sources(dep, acct["regulator"], org, year, [(1, meter)])
    rid = workflow.record_month(dep, acct["enterprise"], org, meter, year, month,
                                int(dep.emissions.assignedFactorSet(org, year)), keccak256(b"invoice"))
    workflow.assign_verifier(dep, acct["regulator"], rid, acct["verifier"])
    workflow.verdict(dep, acct["verifier"], rid, True, keccak256(b"verification report"), bytes(32))
    workflow.confirm(dep, acct["regulator"], rid)
    return rid
