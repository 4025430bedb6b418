"""Green electricity certificates (绿证, GEC) from real hourly generation: ``carbonledger gec issue``.

Issue 13. On a started (throwaway, embedded) :class:`~oracles.system.System`:

1. the PJM hourly file is read through the data-quality rules (:func:`oracles.data_quality.pjm_quality`):
   identical duplicate hours count once, missing hours and quarantined rows (conflicting copies,
   negative or malformed values) are reported and never signed;
2. each fuel series (:data:`PLANTS`) is one renewable plant: an enterprise organisation admitted
   with the registered UTC offset :data:`PLANT_UTC_OFFSET` (PJM's Eastern Standard Time, fixed,
   no DST — DESIGN.md §5 "Time": months are cut in the participant's configured fixed offset), with
   one generation meter (quantity code 16, :data:`oracles.quantities.GENERATION_POWER`, average W)
   registered under its own serial, calibrated by the calibration body;
3. the meter signs each hour (EIP-712 Reading, the same struct as consumption readings), every
   oracle node checks and stores it, and the submitter anchors one batch per plant-month with the
   oracle quorum (3 of 4), exactly as the main job anchors consumption;
4. the registry issues each plant's months in order from the anchored Wh only:
   certificates = ⌊(anchored Wh + carried Wh) / 10^6⌋ (1 certificate = 1 MWh), the rest carried
   into the next month (GreenCertificates.issue checks the same on-chain).

The report lists per plant and month the anchored Wh, certificates, serial range and carried Wh,
and per plant the missing, duplicate and refused hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from ledger.chain.anvil import set_balances
from ledger.chain.client import Call
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, make_uscc, meter_serial_hash, org_id, uscc_bytes32
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.periods import batch_periods
from ledger.meter_data.reading import Reading
from oracles.data_quality import pjm_quality
from oracles.device import DeviceSigner
from oracles.formats import iso_utc
from oracles.quantities import GENERATION_POWER
from oracles.submitter import Submitter
from oracles.system import System

__all__ = ["PLANTS", "PLANT_UTC_OFFSET", "WH_PER_CERTIFICATE", "GecPlant", "month_key", "run_gec"]

#: Wh per certificate: 1 GEC = 1 MWh (GreenCertificates.WH_PER_CERTIFICATE). UNCONFIRMED: china_rules.md
#: has no GEC entry; lead 发改能源〔2023〕1044号 (docs/gec.md).
WH_PER_CERTIFICATE: Final = 1_000_000
#: Registered UTC offset of the PJM plants: Eastern Standard Time, −05:00, fixed (the project cuts
#: months in a participant's fixed offset, DESIGN.md §5; EPT's summer hour is not followed).
PLANT_UTC_OFFSET: Final = -5 * 3600
#: Calibration validity the calibration body records for the plants' meters (no certificate exists
#: for this public data set — the statement below says so).
CALIBRATED_FROM: Final = 1_448_928_000   # 2015-12-01T00:00:00Z
CALIBRATED_UNTIL: Final = 1_488_326_399  # 2017-02-28T23:59:59Z
CALIBRATION_STATEMENT: Final = b"PJM fuel-type generation series: public data set, no meter calibration certificate; recorded for the GEC job"
#: Readings per ingestion call (one SQL transaction per call).
INGEST_CHUNK: Final = 2_000


@dataclass(frozen=True)
class GecPlant:
    """One plant: the PJM fuel series it stands for, its technology code (GreenCertificates: 1 wind,
    2 solar, 3 hydro, 4 other renewables), its fictional USCC body and its meter serial."""

    fuel: str
    technology: int
    uscc_body: str
    serial: str

    @property
    def uscc(self) -> str:
        return make_uscc("9", "1", "320000", self.uscc_body)

    @property
    def org(self) -> bytes:
        return org_id(self.uscc)

    @property
    def device(self) -> bytes:
        return device_id(self.uscc, self.serial)


#: The four plants (fictional organisations; their data is PJM's whole-RTO output of each fuel).
PLANTS: Final[dict[str, GecPlant]] = {p.fuel: p for p in (
    GecPlant("Wind", 1, "MA1GEC01", "PJM-WIND-1"),
    GecPlant("Hydro", 3, "MA1GEC02", "PJM-HYDRO-1"),
    GecPlant("Other Renewables", 4, "MA1GEC03", "PJM-OTHER-RENEWABLES-1"),
    GecPlant("Solar", 2, "MA1GEC04", "PJM-SOLAR-1"),
)}


def month_key(t: int, utc_offset: int = PLANT_UTC_OFFSET) -> tuple[int, int]:
    """(year, month) of UTC second ``t`` on a clock ``utc_offset`` seconds east of UTC."""
    d = datetime.fromtimestamp(t + utc_offset, tz=UTC)
    return d.year, d.month


def _months_window(months: Sequence[tuple[int, int]]) -> tuple[date, date]:
    first = min(months)
    last = max(months)
    end = date(last[0] + last[1] // 12, last[1] % 12 + 1, 1)
    return date(first[0], first[1], 1), end


def run_gec(system: System, data: Path | str, *, fuels: Sequence[str] | None = None,
            months: Sequence[tuple[int, int]] | None = None,
            progress: Callable[[str, int, int], Any] | None = None,
            log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the GEC job on ``data`` (PJM hourly CSV) and return the JSON-ready report.

    Args:
        system: a started :class:`System` (the job admits its plants into it).
        data: the PJM Data Miner hourly file.
        fuels: the fuel series to run (default: every one of :data:`PLANTS` present in the file).
        months: the plants' local (year, month) pairs to run (default: every month of the data).
        progress: ``progress(phase, done, total)`` for progress bars.

    Returns:
        ``{"format", "source", "utc_offset_seconds", "plants": {fuel: {...}}, "total_certificates"}``;
        per plant: ``months`` (``month``, ``readings``, ``anchored_wh``, ``certificates``,
        ``first_serial``, ``last_serial``, ``carried_wh``), ``certificates``, ``carried_wh``,
        ``expected_wh`` (Python mirror of the anchored energy), ``missing_hours``,
        ``duplicate_hours``, ``refused_hours`` (quarantined rows and node refusals).

    Raises:
        ValueError: a requested fuel has no plant or no series in the file, or no hour is left.
        ContractRevert: the chain refuses a registration or an issuance (nothing is skipped silently).
    """
    quality = pjm_quality(data)
    wanted = list(fuels) if fuels else [f for f in PLANTS if f in quality.series]
    for f in wanted:
        if f not in PLANTS:
            raise ValueError(f"no plant for fuel series {f!r}; known: {sorted(PLANTS)}")
        if f not in quality.series:
            raise ValueError(f"fuel series {f!r} is not in {data}; present: {sorted(quality.series)}")
    dep, c, acc = system.dep, system.client, system.accounts
    accounts = _register_plants(system, [PLANTS[f] for f in wanted])
    report: dict[str, Any] = {"format": "pjm-hourly", "source": str(data), "utc_offset_seconds": PLANT_UTC_OFFSET,
                              "utc_offset": "-05:00", "plants": {}}
    sub = Submitter(c, dep.anchor, acc["oracle-1"], dep.quorum)
    for f in wanted:
        plant, sq = PLANTS[f], quality.series[f]
        hours = {s: o.payload for s, o in sq.accepted.items()
                 if months is None or month_key(s) in months}
        if not hours:
            raise ValueError(f"{f}: no accepted hour in the selected months")
        run_months = sorted({month_key(s) for s in hours})
        first_day, end_day = _months_window(run_months)
        signer = DeviceSigner(plant.device, accounts[f][1], dep.domain.separator)
        readings = [signer.sign(Reading(plant.device, s // 3600, s, s + 3600, GENERATION_POWER.code, kw * 1000, 0, 0))
                    for s, kw in sorted(hours.items())]
        acks: Counter[str] = Counter()
        refused: list[dict[str, Any]] = [q.to_json() for q in sq.quarantined
                                         if months is None or month_key(q.start) in months]
        for lo in range(0, len(readings), INGEST_CHUNK):
            chunk = readings[lo:lo + INGEST_CHUNK]
            for i, node in enumerate(system.oracle_nodes):
                for sr, a in zip(chunk, node.ingest(chunk)):
                    acks[a.status] += 1
                    if a.status == "rejected" and i == 0:
                        refused.append({"start": iso_utc(sr.reading.start), "reason": a.reason, "detail": a.detail})
            if progress:
                progress(f"ingest {f}", min(lo + INGEST_CHUNK, len(readings)), len(readings))
        periods = batch_periods(first_day, end_day, 31, PLANT_UTC_OFFSET)   # one batch per local month
        outcomes = sub.anchor_periods(system.oracle_nodes, plant.device, periods)
        bad = [o for o in outcomes if o.status not in ("anchored", "already_anchored", "empty")]
        if bad:
            raise RuntimeError(f"{f}: {len(bad)} months not anchored: {[(o.start, o.status) for o in bad][:3]}")
        month_rows = _issue_months(system, plant, accounts[f][0], run_months)
        expected = {m: energy_wh(sum(kw * 1000 * 3600 for s, kw in hours.items() if month_key(s) == m)) for m in run_months}
        for row in month_rows:
            row["expected_wh"] = expected[tuple(int(x) for x in row["month"].split("-"))]   # type: ignore[index]
        gaps = [iso_utc(g) for g in sq.gaps if months is None or month_key(g) in months]
        report["plants"][f] = {
            "device": "0x" + plant.device.hex(), "technology": plant.technology, "serial": plant.serial,
            "months": month_rows,
            "certificates": sum(r["certificates"] for r in month_rows),
            "carried_wh": month_rows[-1]["carried_wh"] if month_rows else 0,
            "anchored_wh": sum(r["anchored_wh"] for r in month_rows),
            "expected_wh": sum(expected.values()),
            "readings_signed": len(readings),
            "acknowledgements": dict(acks),
            "missing_hours": gaps,
            "duplicate_hours": [iso_utc(d) for d in sq.duplicates if months is None or month_key(d) in months],
            "refused_hours": refused,
        }
        log(f"{f}: {report['plants'][f]['certificates']:,} certificates over {len(month_rows)} months, "
            f"{len(gaps)} missing hours, {len(report['plants'][f]['duplicate_hours'])} duplicate hours")
        if progress:
            progress("plants", wanted.index(f) + 1, len(wanted))
    report["total_certificates"] = sum(p["certificates"] for p in report["plants"].values())
    return report


def _register_plants(system: System, plants: Sequence[GecPlant]) -> dict[str, tuple[str, bytes]]:
    """Admit each plant's organisation (enterprise, :data:`PLANT_UTC_OFFSET`) with a fresh account,
    register its generation meter (quantity 16, own serial) and record the meter's calibration.
    Returns fuel → (plant account, device key)."""
    dep, c, acc = system.dep, system.client, system.accounts
    out: dict[str, tuple[str, bytes]] = {}
    for p in plants:
        account = c.add_account(new_private_key())
        out[p.fuel] = (account, new_private_key())
    if system.node is not None:
        set_balances(c, [a for a, _ in out.values()])
    pr = dep.participants.functions
    c.send([Call.of(pr.admit(p.org, dep.role("ENTERPRISE_ROLE"), uscc_bytes32(p.uscc), PLANT_UTC_OFFSET, out[p.fuel][0],
                             f"GEC demo plant: PJM {p.fuel} (fictional)"), acc["regulator"], f"admit plant {p.fuel}")
            for p in plants])
    c.send([Call.of(dep.devices.functions.registerDevice(p.device, p.org, Signer(out[p.fuel][1]).address,
                                                          GENERATION_POWER.code, meter_serial_hash(p.serial)),
                    out[p.fuel][0], f"register meter {p.serial}") for p in plants])
    c.send([Call.of(dep.devices.functions.recordCalibration(p.device, CALIBRATED_FROM, CALIBRATED_UNTIL,
                                                             keccak256(CALIBRATION_STATEMENT)),
                    acc["calibration"], f"calibrate {p.serial}") for p in plants])
    return out


def _issue_months(system: System, plant: GecPlant, to: str, run_months: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Issue the plant's months in order: certificates = ⌊(anchored + carried Wh) / 10^6⌋ each."""
    dep, c, reg = system.dep, system.client, system.accounts["registry"]
    gc, anchor = dep.certificates, dep.anchor
    n = anchor.deviceBatchCount(plant.device)
    batches = [anchor.batch(anchor.deviceBatchAt(plant.device, i)) for i in range(n)]
    rows: list[dict[str, Any]] = []
    for y, m in run_months:
        idx = [i for i, b in enumerate(batches) if month_key(b.start) == (y, m)]
        if not idx:
            continue
        wh = sum(batches[i].totalWh for i in idx)
        carried_in = gc.plant(plant.device).carriedWh
        certificates = (wh + carried_in) // WH_PER_CERTIFICATE
        res = c.transact(gc.functions.issue(plant.device, y, m, plant.technology, idx[0], idx[-1], certificates, to),
                         reg, f"issue GEC {plant.fuel} {y}-{m:02d}")
        month = gc.decode_events(res, "MonthIssued")[0]
        issued = gc.decode_events(res, "CertificatesIssued")
        rows.append({
            "month": f"{y}-{m:02d}", "readings": sum(batches[i].count for i in idx), "anchored_wh": month.anchoredWh,
            "carried_in_wh": carried_in, "certificates": month.certificates, "carried_wh": month.carriedWh,
            "first_serial": issued[0].firstSerial if issued else None,
            "last_serial": issued[0].lastSerial if issued else None,
        })
    return rows
