"""The one verifier implementation: re-verify a monthly emissions record against the chain.

The verifier trusts the API (or any :class:`RecordSource`) only for DATA — the record, its
batches, every reading with its device signature and Merkle proof, the factor set, evidence
hashes — and checks all of it against the chain itself, read through JSON-RPC with the contract
addresses of the deployment manifest (DESIGN.md §1, §7 step 4; issue 6 "command-line verifier"):

=====================  ======================================================================
check                  what is compared
=====================  ======================================================================
deployment             manifest chain id = node chain id; every contract has code
record fields          every field the API serves = ``EmissionsRegistry.record(id)``
batches anchored       the batches the API serves = the device's batches ``firstBatchIndex..
                       lastBatchIndex`` (followed to their current correction): id, device,
                       period, count, totalWh, root; each inside the record's month window
oracle quorum          per batch, the ``BatchAnchored`` event's signatures recover (EIP-712
                       BatchReport digest rebuilt from the stored batch and the config digest
                       of an oracle set, recomputed from its signers and f) to distinct members
                       of that set (``OracleSetChanged``), at least ⌊(n + f)/2⌋ + 1 of them
device signatures      every reading recovers to the device's registered signer (DeviceRegistry)
                       and lies in its batch's period, for the batch's device
Merkle roots           the root rebuilt from ALL the readings of a batch = the anchored root;
                       reading count = anchored count
proofs on-chain        a random sample of the API's proofs per batch accepted by
                       ``MeterDataAnchor.verifyReading`` (eth_call), which also recovers the
                       device signature whose hash is in the leaf
energy per batch       Wh = ⌊Σ(W × s) / 3600 + ½⌋ from the readings = anchored totalWh
declared gap           (when the record has one) its days, the regulator's substitute Wh > 0, and the
                       metered Wh on-chain = Σ recomputed batch Wh (issue 12)
activity data          Σ recomputed batch Wh + the gap's substitute = the record's activityAmount (Wh)
emission factor        ``EmissionFactorRegistry.factor(set, GRID_EF)`` (kgCO2/kWh × 1e4, scale 4,
                       set applies to the year) = record factorValue = the API's factor set
emissions              ⌊Wh × EF / 10^7 + ½⌋ (:func:`ledger.accounting.emissions.emissions_kg`) = the record's
                       emissionsKg on-chain and as served
evidence               hashes the API serves = ``EvidenceRegistry`` on-chain (skipped when the
                       deployment has no EvidenceRegistry)
=====================  ======================================================================

:func:`verify_record` returns a :class:`Verdict`: the checks (name, expected, found,
pass/fail/skip) and ``passed``. Its canonical JSON hash is what the verifier attests on-chain.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict

import httpx

from ledger.accounting.emissions import emissions_kg
from ledger.chain.client import ChainClient, ChainError
from ledger.contracts._generated.evidence_registry import Evidence
from ledger.contracts._generated.meter_data_anchor import BatchAnchored, OracleSetChanged
from ledger.contracts.anchored import AnchoredBatch, device_batches, split_signatures
from ledger.contracts.deployment import Deployment, DeploymentError
from ledger.crypto.primitives import InvalidSignature, recover_address_bytes
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import (
    Reading,
    batch_report_digest,
    config_digest,
    reading_leaves_and_signers,
)
from ledger.meter_data.workers import shared_workers
from ledger.records.audit import ACTIVITY_TYPES, RECORD_STATUS, SOURCES
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.shapes import BatchCheck

#: Inclusion proofs checked on-chain per batch (a sample; the root is rebuilt from all readings).
DEFAULT_SAMPLE_PER_BATCH = 3
#: Scale of the grid factor on-chain: kgCO2/kWh × 10^4 (DESIGN.md §5; FactorCodes.GRID_EF_SCALE).
GRID_EF_SCALE = 4
#: Record fields compared one by one between the API and the chain.
RECORD_FIELDS = ("enterprise", "activityType", "source", "year", "month", "periodStart", "periodEnd", "device",
                 "firstBatchIndex", "lastBatchIndex", "activityAmount", "factorSetId", "factorValue", "emissionsKg",
                 "status", "verifier", "evidenceHash", "readings", "amends", "amendedBy")
_MAX_NAMED = 5   # readings / batches named per failed check


class VerifierError(RuntimeError):
    """The verification could not run (chain unreachable, manifest for another chain, record not
    an anchored-meter-data record). Errors of the :class:`RecordSource` are its own."""


# ============================================================================ data sources
class ServedBatch(TypedDict):
    """A batch as a :class:`RecordSource` serves it (``GET /v1/verifier/records/{id}/batches`` item)."""

    batch_id: int
    start: int        # UTC s
    end: int          # UTC s
    count: int
    totalWh: int
    root: str         # 0x bytes32


class ServedReading(TypedDict):
    """A reading as a :class:`RecordSource` serves it (``GET /v1/verifier/records/{id}/readings``
    item): ``reading`` has ``device, sequence, start, end, quantityCode, value, scale, flags``
    (device 0x bytes32); ``signature`` 0x 65 bytes; ``proof`` 0x bytes32 list against the
    anchored root, or None (the check then builds it from the readings)."""

    batch_id: int
    reading: dict[str, Any]
    signature: str
    proof: list[str] | None


class ServedEvidence(TypedDict, total=False):
    """An evidence item as a :class:`RecordSource` serves it (``GET /v1/evidence`` item; more
    fields may be present)."""

    ciphertext_sha256: str            # 0x SHA-256 of the envelope's ciphertext
    salted_plaintext_sha256: str      # 0x SHA-256(salt ‖ plaintext)


class RecordSource(Protocol):
    """Where the provenance check gets its DATA (never trusted): the API over HTTP
    (:class:`api.client.ApiClient`) or, inside the API process, the same data read in-process
    (:class:`api.verification.InProcessSource`). A source that cannot serve raises its own error
    (the HTTP client's :class:`api.client.ApiError`, the API's problem); it propagates."""

    def record(self, record_id: int) -> dict[str, Any]:
        """The record's fields (as ``GET /v1/audit/records/{id}``: bytes 0x-hex, enums as names)
        plus ``factor_set`` (codes, values, scales) when known."""
        ...

    def batches(self, record_id: int) -> list[ServedBatch]:
        """The batches the record sums."""
        ...

    def readings(self, record_id: int) -> Iterable[ServedReading]:
        """Every reading of the record's batches."""
        ...

    def evidence(self, record_id: int) -> list[ServedEvidence] | None:
        """Evidence items of the record, or None if the source serves no evidence listing."""
        ...


# ============================================================================ verdict
@dataclass
class Check:
    """One row of the verdict: ``status`` is ``"pass"``, ``"fail"`` or ``"skip"``."""

    name: str
    expected: str
    found: str
    status: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        """True unless the check failed (a skipped check does not fail the verdict)."""
        return self.status != "fail"


@dataclass
class Verdict:
    """The verifier's verdict on one record.

    Attributes:
        record_id: EmissionsRegistry record id.
        checks: one :class:`Check` per row of the verdict table, in order.
        batches: per-batch details (:class:`ledger.verify.shapes.BatchCheck`).
        recomputed_wh: Σ batch Wh recomputed from the readings; recomputed_kg: kgCO2 from it.
        factor_value: grid EF read from EmissionFactorRegistry (kgCO2/kWh × 1e4), 0 if unreadable.
    """

    record_id: int
    checks: list[Check] = field(default_factory=list)
    batches: list[BatchCheck] = field(default_factory=list)
    recomputed_wh: int = 0
    recomputed_kg: int = 0
    factor_value: int = 0

    @property
    def passed(self) -> bool:
        """True iff no check failed (and there is at least one check)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def findings(self) -> list[str]:
        """One sentence per failed check."""
        return [f"{c.name}: expected {c.expected}; found {c.found}" + (f" ({c.detail})" if c.detail else "")
                for c in self.checks if not c.passed]

    def add(self, name: str, expected: Any, found: Any, ok: bool | None, detail: str = "") -> Check:
        """Append a check (``ok`` None = skipped) and return it."""
        c = Check(name, str(expected), str(found), "skip" if ok is None else "pass" if ok else "fail", detail)
        self.checks.append(c)
        return c

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON API / --json): checks, batches, figures, passed, hashes."""
        d = asdict(self)
        d["passed"] = self.passed
        d["findings"] = self.findings
        d["report_hash"] = "0x" + self.report_hash().hex()
        d["findings_hash"] = "0x" + self.findings_hash().hex()
        return d

    def canonical_json(self) -> bytes:
        """Deterministic JSON of the verdict (sorted keys, no spaces)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def report_hash(self) -> bytes:
        """SHA-256 of :meth:`canonical_json` — attested on-chain as the verification report hash."""
        return hashlib.sha256(self.canonical_json()).digest()

    def findings_hash(self) -> bytes:
        """SHA-256 of the findings' canonical JSON (all zero when there are none)."""
        if not self.findings:
            return bytes(32)
        return hashlib.sha256(json.dumps(self.findings, separators=(",", ":")).encode()).digest()


# ============================================================================ chain access
def open_deployment(chain: Any, manifest: dict[str, Any] | Path | str | None = None) -> Any:
    """A read-only :class:`ledger.contracts.deployment.Deployment` from an RPC URL, a ChainClient or a
    Deployment, and the manifest (dict or path to deployment.json).

    Raises:
        VerifierError: the node is unreachable, or the manifest is for another chain or names a
            contract without code.
    """
    if hasattr(chain, "manifest") and hasattr(chain, "anchor"):
        return chain
    if isinstance(manifest, (str, Path)):
        manifest = json.loads(Path(manifest).read_text())
    if manifest is None:
        raise VerifierError("a deployment manifest is needed")
    try:
        if isinstance(chain, str):
            # read-only use: the journal is never written, a throw-away file keeps ChainClient happy
            journal = make_engine(sqlite_url(Path(tempfile.mkdtemp(prefix="cl-verify-")) / "journal.sqlite"))
            chain = ChainClient(chain, journal)
        dep = Deployment(chain, manifest)
        codes = chain.rpc_batch([("eth_getCode", [c.address, "latest"]) for c in dep.c.values()])
    except (DeploymentError, ChainError, httpx.HTTPError, OSError) as exc:
        raise VerifierError(f"cannot use the chain: {exc}") from None
    missing = [n for n, code in zip(dep.c, codes) if code.get("result") in (None, "0x")]
    if missing:
        raise VerifierError(f"contracts without code on this chain: {', '.join(missing)}")
    return dep


def _norm(v: Any) -> Any:
    """Comparable form of a field: bytes → 0x-hex, strings lower-cased (hex, addresses, enum names)."""
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, str):
        return v.lower()
    return v


def _h(b: bytes | str) -> str:
    s = b if isinstance(b, str) else "0x" + b.hex()
    return s[:10] + "…" if len(s) > 12 else s


def _names(items: list[str]) -> str:
    return ", ".join(items[:_MAX_NAMED]) + (f" and {len(items) - _MAX_NAMED} more" if len(items) > _MAX_NAMED else "")


def _reading_of(d: dict[str, Any]) -> Reading:
    return Reading(bytes.fromhex(str(d["device"])[2:]), int(d["sequence"]), int(d["start"]), int(d["end"]),
                   int(d["quantityCode"]), int(d["value"]), int(d["scale"]), int(d["flags"]))


# ============================================================================ the verifier
def verify_record(chain: Any, manifest: dict[str, Any] | Path | str | None, api: RecordSource, record_id: int, *,
                  sample_per_batch: int = DEFAULT_SAMPLE_PER_BATCH, rng: random.Random | None = None) -> Verdict:
    """Independently re-verify purchased-electricity record ``record_id``.

    Args:
        chain: JSON-RPC URL, :class:`ledger.chain.client.ChainClient` or a Deployment (then ``manifest``
            may be None).
        manifest: the deployment manifest (dict or path of deployment.json) — trusted: it names
            the contracts whose state is the truth.
        api: the data source (a :class:`RecordSource`, e.g. :class:`api.client.ApiClient`), trusted for nothing.
        record_id: EmissionsRegistry record id.
        sample_per_batch: inclusion proofs checked on-chain per batch.
        rng: random source of the proof sample.

    Returns:
        the verdict; ``verdict.passed`` is False if any check failed.

    Raises:
        VerifierError: the chain cannot be read, or the record is not an anchored-meter-data
            record. The source's own errors (e.g. :class:`api.client.ApiError`) propagate.
    """
    rng = rng or random.Random()
    dep = open_deployment(chain, manifest)
    c, v = dep.client, Verdict(record_id)
    v.add("deployment", f"chain {dep.manifest['chain_id']}, {len(dep.c)} contracts with code",
          f"chain {c.chain_id}, {len(dep.c)} contracts with code", True)

    # ---------------------------------------------------------------- the record: API vs chain
    try:
        chain_rec = dep.emissions.record(record_id).as_dict()
    except ChainError as exc:
        raise VerifierError(f"record {record_id} cannot be read on-chain: {exc}") from None
    chain_rec["status"] = RECORD_STATUS[int(chain_rec["status"])]
    chain_rec["activityType"] = ACTIVITY_TYPES[int(chain_rec["activityType"])]
    chain_rec["source"] = SOURCES[int(chain_rec["source"])]
    api_rec = api.record(record_id)
    bad = [f"{k}: chain {_norm(chain_rec[k])}, API {_norm(api_rec.get(k))}" for k in RECORD_FIELDS
           if k in chain_rec and _norm(api_rec.get(k)) != _norm(chain_rec[k])]
    v.add("record fields", f"{len(RECORD_FIELDS)} fields = EmissionsRegistry.record({record_id})",
          "all equal" if not bad else f"{len(bad)} differ: " + "; ".join(bad[:4]), not bad)
    if chain_rec["source"] != "anchored_meter_data":
        raise VerifierError(f"record {record_id} is {chain_rec['activityType']} ({chain_rec['source']}), "
                            "not purchased electricity from anchored meter data")
    device = bytes(chain_rec["device"])
    year, ps, pe = int(chain_rec["year"]), int(chain_rec["periodStart"]), int(chain_rec["periodEnd"])

    # ---------------------------------------------------------------- batches: API vs chain
    a = dep.anchor.functions
    first, last = int(chain_rec["firstBatchIndex"]), int(chain_rec["lastBatchIndex"])
    cb = [d.batch for d in device_batches(dep.anchor, device, first, last)] if last >= first else []
    served = {int(b["batch_id"]): b for b in api.batches(record_id)}
    problems: list[str] = []
    for b in cb:
        s = served.get(b.batch_id)
        if s is None:
            problems.append(f"batch {b.batch_id} not served")
            continue
        want = (b.start, b.end, b.count, b.total_wh, "0x" + b.root.hex())
        got = (int(s["start"]), int(s["end"]), int(s["count"]), int(s["totalWh"]), str(s["root"]).lower())
        if want != got:
            problems.append(f"batch {b.batch_id}: chain {want[:4]} root {_h(b.root)}, API {got[:4]} root {_h(got[4])}")
        if b.device != device or not (ps <= b.start and b.end <= pe):
            problems.append(f"batch {b.batch_id} is not the record device's or lies outside the month")
    extra = sorted(set(served) - {b.batch_id for b in cb})
    problems += [f"batch {x} served but not summed by the record" for x in extra]
    total_readings = sum(b.count for b in cb)
    if int(chain_rec["batches"]) != len(cb) or int(chain_rec["readings"]) != total_readings:
        problems.append(f"record says {chain_rec['batches']} batches / {chain_rec['readings']} readings, "
                        f"its batch range holds {len(cb)} / {total_readings}")
    v.add("batches anchored", f"{len(cb)} batches (index {first}..{last}), {total_readings:,} readings, on-chain",
          "all served as anchored" if not problems else _names(problems), not problems)

    # ---------------------------------------------------------------- oracle signatures (chain only)
    v.checks.append(_check_oracles(dep, device, cb))

    # ---------------------------------------------------------------- readings: signatures, roots, proofs, Wh
    signer = bytes.fromhex(dep.devices.device(device).signer[2:])
    sep = dep.domain.separator
    by_batch: dict[int, list[tuple[Reading, bytes, list[bytes] | None]]] = {b.batch_id: [] for b in cb}
    stray: list[str] = []
    for x in api.readings(record_id):
        bid = int(x["batch_id"])
        item = (_reading_of(x["reading"]), bytes.fromhex(str(x["signature"])[2:]),
                [bytes.fromhex(p[2:]) for p in x["proof"]] if x.get("proof") is not None else None)
        if bid in by_batch:
            by_batch[bid].append(item)
        else:
            stray.append(f"reading {item[0].sequence} (batch {bid})")
    bad_sig: list[str] = list(stray)
    bad_root: list[str] = []
    bad_wh: list[str] = []
    bad_proof: list[str] = []
    n_sig = n_proofs = 0
    total = 0
    # leaves and recovered signers of every reading at once, on every core (the hot-path primitives)
    rows = [(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, sig)
            for b in cb for r, sig, _ in by_batch[b.batch_id]]
    recovered = iter(shared_workers().map_chunks(reading_leaves_and_signers, rows, sep))
    for b in cb:
        pairs = by_batch[b.batch_id]
        leaves, ws, ok_n, bad_n, fractional = [], 0, 0, 0, False
        for r, sig, _ in pairs:
            n_sig += 1
            leaf, who = next(recovered)
            leaves.append(leaf)
            if r.scale < 0:
                fractional = True
            else:
                ws += (r.end - r.start) * r.value * 10 ** r.scale
            ok = who == signer
            if ok and r.device == b.device and b.start <= r.start < r.end <= b.end:
                ok_n += 1
            else:
                bad_n += 1
                bad_sig.append(f"reading {r.sequence} (batch {b.batch_id})")
        tree = StandardMerkleTree.from_leaf_hashes(leaves) if leaves else None
        root_ok = tree is not None and tree.root == b.root
        count_ok = len(pairs) == b.count
        if not root_ok or not count_ok:
            bad_root.append(f"batch {b.batch_id}: {len(pairs)} readings give root {_h(tree.root) if tree else 'none'}, "
                            f"anchored {b.count} with root {_h(b.root)}")
        wh = energy_wh(ws) if not fractional and ws >= 0 else -1
        if wh != b.total_wh:
            bad_wh.append(f"batch {b.batch_id}: readings give {wh} Wh, anchored {b.total_wh} Wh")
        sample = rng.sample(range(len(pairs)), min(sample_per_batch, len(pairs)))
        calls, named = [], []
        for i in sample:
            r, _, proof = pairs[i]
            if proof is None:
                proof = tree.proof(leaves[i]) if tree else []
            calls.append(a.verifyReading(b.batch_id, r, pairs[i][1], proof))
            named.append(f"reading {r.sequence} (batch {b.batch_id})")
        answers = c.call_many(calls)
        n_proofs += len(calls)
        proofs_ok = sum(bool(x) for x in answers)
        bad_proof += [n for n, ok in zip(named, answers) if not ok]
        v.batches.append(BatchCheck(b.batch_id, len(pairs), root_ok, count_ok, wh == b.total_wh, ok_n, bad_n,
                                    len(calls), proofs_ok, wh))
        total += max(wh, 0)
    v.add("device signatures", f"{total_readings:,} readings signed by device key {_h(signer)} (DeviceRegistry), in their batch period",
          f"{n_sig - len(bad_sig):,} ok" + (f"; bad: {_names(bad_sig)}" if bad_sig else ""), not bad_sig and n_sig == total_readings)
    v.add("Merkle roots", f"{len(cb)} roots rebuilt from all readings = anchored roots and counts",
          "all equal" if not bad_root else _names(bad_root), not bad_root)
    v.add("proofs on-chain", f"{n_proofs} sampled proofs accepted by MeterDataAnchor.verifyReading",
          f"{n_proofs - len(bad_proof)} accepted" + (f"; refused: {_names(bad_proof)}" if bad_proof else ""),
          not bad_proof and (n_proofs > 0 or total_readings == 0))
    v.add("energy per batch", "Wh = ⌊Σ(W×s)/3600+½⌋ = anchored totalWh, every batch",
          "all equal" if not bad_wh else _names(bad_wh), not bad_wh)
    v.recomputed_wh = total
    recorded_wh = int(chain_rec["activityAmount"])
    gap = dep.emissions.recordGap(record_id)
    substitute = int(gap.substituteWh)
    if gap.dayMask:   # issue 12: a declared gap adds the regulator's substitute to the metered Wh
        days = [d + 1 for d in range(31) if gap.dayMask >> d & 1]
        v.add("declared gap", f"days {days} declared by the enterprise, substitute assessed by the regulator",
              f"{substitute:,} Wh substitute; metered {int(gap.meteredWh):,} Wh on-chain",
              substitute > 0 and int(gap.meteredWh) == total)
    v.add("activity data", f"{total:,} Wh (Σ recomputed batches)" + (f" + {substitute:,} Wh substitute" if substitute else ""),
          f"{recorded_wh:,} Wh on-chain, {api_rec.get('activityAmount')} Wh served",
          total + substitute == recorded_wh and _norm(api_rec.get("activityAmount")) == recorded_wh)
    total += substitute

    # ---------------------------------------------------------------- factor and emissions formula
    fs = int(chain_rec["factorSetId"])
    f = dep.factors
    try:
        code = f.GRID_EF()
        factor = f.factor(fs, code)
        ef, scale = factor.value, factor.scale
        applies = f.appliesTo(fs, year)
    except ChainError as exc:
        ef, scale, applies, code = 0, -1, False, b""
        v.add("emission factor", f"grid EF of factor set {fs}", f"unreadable on-chain: {exc}", False)
    else:
        served_fs = api_rec.get("factor_set") or {}
        served_ef = None
        for k, val in zip(served_fs.get("codes") or [], served_fs.get("values") or []):
            if str(k).lower() == "0x" + code.hex():
                served_ef = int(val)
        ok = (scale == GRID_EF_SCALE and applies and ef == int(chain_rec["factorValue"])
              and _norm(api_rec.get("factorValue")) == ef and served_ef in (None, ef))
        v.add("emission factor", f"set {fs}: {ef} (kgCO2/kWh × 1e4, EmissionFactorRegistry), applies to {year}",
              f"record {chain_rec['factorValue']} on-chain, {api_rec.get('factorValue')} served"
              + (f", set serves {served_ef}" if served_ef is not None else "") + ("" if applies else f", set does not apply to {year}"),
              ok)
    v.factor_value = ef
    kg = emissions_kg(total, ef) if ef else 0
    v.recomputed_kg = kg
    v.add("emissions", f"{kg:,} kgCO2 = ⌊{total:,} Wh × {ef} / 10^7 + ½⌋",
          f"{int(chain_rec['emissionsKg']):,} kgCO2 on-chain, {api_rec.get('emissionsKg')} served",
          bool(ef) and kg == int(chain_rec["emissionsKg"]) and _norm(api_rec.get("emissionsKg")) == kg)

    # ---------------------------------------------------------------- evidence
    v.checks.append(_check_evidence(dep, api, record_id))
    return v


def _check_oracles(dep: Any, device: bytes, cb: list[AnchoredBatch]) -> Check:
    """Oracle quorum of every batch, from the chain's own events and state only: the oracle set
    whose config digest (recomputed here from chain id, contract, version, salt, signers and f —
    OCR2, ``MeterDataAnchor.setOracles``) rebuilds the event's report digest, and at least its
    quorum ⌊(n + f)/2⌋ + 1 of distinct members' signatures."""
    c, a = dep.client, dep.anchor
    start = dep.manifest["deployment_block"]
    salt = a.salt()
    sets: list[tuple[int, set[bytes], int, bytes, bool]] = []
    for lg in a.get_logs(OracleSetChanged, start):
        oc = lg.event
        mirror = config_digest(c.chain_id, a.address, oc.version, salt, list(oc.oracles), oc.f)
        sets.append((oc.version, {bytes.fromhex(o[2:].lower()) for o in oc.oracles}, oc.quorum, oc.configDigest,
                     mirror == oc.configDigest and oc.quorum == (len(oc.oracles) + oc.f) // 2 + 1))
    want = {b.batch_id for b in cb}
    logs: dict[int, BatchAnchored] = {}
    if want:
        for ba in a.get_logs(BatchAnchored, start, device=device):
            if ba.event.batchId in want:
                logs[ba.event.batchId] = ba.event
    bad: list[str] = []
    sig_total = 0
    quorums = set()
    for b in cb:
        ev = logs.get(b.batch_id)
        if ev is None:
            bad.append(f"batch {b.batch_id}: no BatchAnchored event")
            continue
        match = next(((v, m, q, d, ok) for v, m, q, d, ok in sets
                      if batch_report_digest(dep.domain.separator, b.report(d)) == ev.reportDigest), None)
        if match is None:
            bad.append(f"batch {b.batch_id}: report digest matches no configured oracle set")
            continue
        version, members, quorum, digest_cfg, cfg_ok = match
        quorums.add(quorum)
        if not cfg_ok:
            bad.append(f"batch {b.batch_id}: config digest of oracle set v{version} does not commit to its signers and f")
            continue
        digest = ev.reportDigest
        seen: set[bytes] = set()
        for sig in split_signatures(ev.signatures):
            try:
                who = recover_address_bytes(digest, bytes(sig))
            except (InvalidSignature, ValueError):
                who = b""
            if who in members:
                seen.add(who)
        sig_total += len(seen)
        if len(seen) < max(quorum, 1):
            bad.append(f"batch {b.batch_id}: {len(seen)} valid oracle signatures, quorum {quorum}")
    q = "/".join(str(x) for x in sorted(quorums)) or "?"
    return Check("oracle quorum", f"≥ {q} signatures of the oracle set (its config digest) per batch, {len(cb)} batches",
                 f"{sig_total} valid signatures" + (f"; {_names(bad)}" if bad else ""), "fail" if bad else "pass")


def _check_evidence(dep: Any, api: RecordSource, record_id: int) -> Check:
    """Evidence hashes served = EvidenceRegistry's (skipped without an EvidenceRegistry)."""
    name = "evidence"
    reg = dep.c.get("EvidenceRegistry")
    if reg is None:
        return Check(name, "EvidenceRegistry hashes", "no EvidenceRegistry in this deployment", "skip")
    c = dep.client
    try:
        n = reg.evidenceCount(record_id)
        items: list[Evidence] = c.call_many([reg.functions.evidenceAt(record_id, i) for i in range(n)])
    except (ChainError, ValueError) as exc:
        return Check(name, "EvidenceRegistry hashes", f"unreadable: {exc}", "fail")
    on_chain = [("0x" + it.ciphertextSha256.hex(), "0x" + it.saltedPlaintextSha256.hex()) for it in items]
    served = api.evidence(record_id)
    if served is None:
        return Check(name, f"{n} evidence items on-chain", "the API serves no evidence listing", "skip")
    got = [(str(e.get("ciphertext_sha256", "")).lower(), str(e.get("salted_plaintext_sha256", "")).lower()) for e in served]
    ok = sorted(got) == sorted(on_chain)
    return Check(name, f"{n} evidence items, hashes as on-chain", f"{len(got)} served" + ("" if ok else ", hashes differ"),
                 "pass" if ok else "fail")
