"""An oracle node checks large batches in worker processes (issue 14: every core) with exactly
the answers of the in-process checks, in order, storing before acknowledging; the workers stop
cleanly. No chain needed: a static device directory stands in for DeviceRegistry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.crypto.primitives import SECP256K1_N, Eip712Domain, Signer
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import (
    Reading,
    encode_reading_fields,
    encode_reading_leaf_values,
    reading_leaf,
    reading_leaves_and_signers,
)
from ledger.meter_data.workers import WORKERS_ENV, CheckWorkers, default_processes
from ledger.store.db import make_engine, sqlite_url
from oracles.device import DeviceSigner
from oracles.node import DeviceInfo, OracleNode, SignedReading
from oracles.proofs import readings_with_proofs
from oracles.store import QuarantinedReading, StoredReading

T0 = 1_170_000_000
NOW = T0 + 40 * 86_400
SEP = Eip712Domain.meter_data(31337, "0x" + "11" * 20).separator
KEY = bytes.fromhex("42" * 32)
DEV = bytes.fromhex("d1" * 32)
REVOKED = bytes.fromhex("d2" * 32)


class Devices:
    def __init__(self) -> None:
        signer = Signer(KEY).address_bytes
        self.infos = {DEV: DeviceInfo(DEV, bytes(32), signer, 1, ((0, NOW + 86_400),), True),
                      REVOKED: DeviceInfo(REVOKED, bytes(32), signer, 1, ((0, NOW + 86_400),), False)}

    def get(self, device: bytes) -> DeviceInfo | None:
        return self.infos.get(device)


def _mixed_batch(n: int = 1_200) -> list[SignedReading]:
    """n readings of DEV, one minute each; every 10th one is broken in one of ten ways."""
    dev = DeviceSigner(DEV, KEY, SEP)
    out = []
    for i in range(n):
        r = Reading(DEV, i + 1, T0 + 60 * i, T0 + 60 * i + 60, 1, 1_000 + i, 0, 0)
        sr = dev.sign(r)
        kind = i % 10 if i % 7 == 3 else -1
        if kind == 0:      # tampered value: recovers another address
            sr = SignedReading(Reading(DEV, r.sequence, r.start, r.end, 1, r.value + 1, 0, 0), sr.signature)
        elif kind == 1:    # high-s twin of a valid signature
            s = SECP256K1_N - int.from_bytes(sr.signature[32:64], "big")
            sr = SignedReading(r, sr.signature[:32] + s.to_bytes(32, "big") + bytes((55 - sr.signature[64],)))
        elif kind == 2:    # value outside int64
            sr = SignedReading(Reading(DEV, r.sequence, r.start, r.end, 1, 2**63, 0, 0), sr.signature)
        elif kind == 3:    # implausible power
            sr = dev.sign(Reading(DEV, r.sequence, r.start, r.end, 1, -5, 0, 0))
        elif kind == 4:    # ends after the node's clock
            sr = dev.sign(Reading(DEV, r.sequence, NOW + 3_600, NOW + 3_660, 1, 5, 0, 0))
        elif kind == 5:    # bool is not an int for the struct
            sr = SignedReading(Reading(DEV, r.sequence, r.start, r.end, 1, r.value, 0, True), sr.signature)  # type: ignore[arg-type]
        elif kind == 6:    # revoked device
            sr = SignedReading(Reading(REVOKED, r.sequence, r.start, r.end, 1, r.value, 0, 0), sr.signature)
        elif kind == 7:    # v not 27/28
            sr = SignedReading(r, sr.signature[:64] + b"\x01")
        elif kind == 8:    # short signature
            sr = SignedReading(r, sr.signature[:64])
        elif kind == 9:    # negative scale
            sr = dev.sign(Reading(DEV, r.sequence, r.start, r.end, 1, 10, -1, 0))
        out.append(sr)
    return out


def _node(tmp: Path, name: str, workers: CheckWorkers) -> OracleNode:
    return OracleNode(name, Signer.generate(), make_engine(sqlite_url(tmp / f"{name}.sqlite")), SEP, Devices(),
                      lambda: bytes(32), clock=lambda: NOW, workers=workers)


def _store(node: OracleNode) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Session(node.engine) as s:
        rows = [tuple(r) for r in s.execute(select(StoredReading.device, StoredReading.sequence, StoredReading.value,
                                                   StoredReading.leaf).order_by(StoredReading.sequence))]
        quarantine = [tuple(r) for r in s.execute(select(QuarantinedReading.sequence, QuarantinedReading.reason,
                                                         QuarantinedReading.detail).order_by(QuarantinedReading.id))]
    return rows, quarantine


def test_worker_processes_give_the_in_process_answers_in_order_and_store_the_same(tmp_path: Path) -> None:
    batch = _mixed_batch()
    with CheckWorkers(2, min_chunk=100) as pool:
        in_workers = _node(tmp_path, "workers", pool)
        in_thread = _node(tmp_path, "thread", CheckWorkers(0))
        acks = in_workers.ingest(batch)
        assert pool.items_in_workers == len(batch) and pool.chunks_in_workers == 2      # the workers ran it
        pids = pool.worker_pids()
        assert len(pids) == 2 and os.getpid() not in pids
        assert acks == in_thread.ingest(batch)
        assert [a.sequence for a in acks] == [sr.reading.sequence for sr in batch]
        reasons = {a.reason for a in acks if a.status == "rejected"}
        assert reasons == {"bad_signature", "malformed", "implausible_value", "in_future", "device_revoked"}
        assert sum(a.status == "accepted" for a in acks) == len(batch) - sum(i % 7 == 3 for i in range(len(batch)))
        assert _store(in_workers) == _store(in_thread)           # stored before the acknowledgement returned
        rows, _ = _store(in_workers)
        good = {sr.reading.sequence: sr for sr in batch}
        assert all(leaf == reading_leaf(good[seq].reading, good[seq].signature) for _, seq, _, leaf in rows)
        # an identical resend: duplicates, also through the workers
        assert {a.status for a in in_workers.ingest(batch) if a.status != "rejected"} == {"duplicate"}
    assert pool.worker_pids() == []


def _body(batch: list[SignedReading], **dumps: object) -> bytes:
    return json.dumps({"readings": [sr.to_json() for sr in batch]}, **({"separators": (",", ":")} | dumps)).encode()


def _wire_batch(n: int = 1_200) -> list[SignedReading]:
    """:func:`_mixed_batch` without the two faults JSON cannot carry in the plain form (a bool
    flag, a 64-byte signature: the schema refuses those bodies with a 422)."""
    return [sr for sr in _mixed_batch(n) if type(sr.reading.flags) is int and len(sr.signature) == 65]


def test_a_raw_body_is_decoded_and_checked_in_the_workers_with_the_answers_of_ingest(tmp_path: Path) -> None:
    batch = _wire_batch()
    assert {a for a in range(1_200) if a % 7 == 3 and a % 10 in (5, 8)}      # the two faults were there
    with CheckWorkers(2, min_chunk=100) as pool:
        raw = _node(tmp_path, "raw", pool)
        objects = _node(tmp_path, "objects", CheckWorkers(0))
        acks = raw.ingest_body(_body(batch), max_readings=20_000)
        assert acks is not None and pool.chunks_in_workers == 2 and len(pool.worker_pids()) == 2   # two pieces, two workers
        assert acks == objects.ingest(batch)
        assert {a.reason for a in acks if a.status == "rejected"} == {"bad_signature", "malformed", "implausible_value",
                                                                        "in_future", "device_revoked"}
        assert _store(raw) == _store(objects)
        again = raw.ingest_body(_body(batch), max_readings=20_000)         # identical resend: duplicates
        assert again is not None and {a.status for a in again if a.status != "rejected"} == {"duplicate"}


@pytest.mark.parametrize("variant", ["spaces", "short_signature", "too_many", "escaped_device", "bool_flag", "extra_key",
                                     "empty"])
def test_a_raw_body_not_in_the_plain_form_is_left_to_the_ordinary_path(tmp_path: Path, variant: str) -> None:
    batch = _wire_batch(600)
    body = _body(batch)
    if variant == "spaces":
        body = _body(batch, separators=(", ", ": "))
    elif variant == "short_signature":
        body = _body([*batch[:300], SignedReading(batch[300].reading, batch[300].signature[:64]), *batch[301:]])
    elif variant == "escaped_device":       # the same JSON value, spelt so that the node's device scan misses it
        assert REVOKED in {sr.reading.device for sr in batch}
        body = body.replace(b'"device":"0x' + REVOKED.hex().encode(), rb'"device":"\u0030x' + REVOKED.hex().encode())
    elif variant == "bool_flag":
        body = body.replace(b'"flags":0', b'"flags":false', 1)
    elif variant == "extra_key":
        body = body[:-1] + b',"more":1}'
    elif variant == "empty":
        body = b'{"readings":[]}'
    with CheckWorkers(2, min_chunk=100) as pool:
        node = _node(tmp_path, "n", pool)
        assert node.ingest_body(body, max_readings=len(batch) - 1 if variant == "too_many" else 20_000) is None
        assert _store(node) == ([], [])                      # nothing checked into the store, nothing quarantined


def test_node_close_stops_its_worker_processes(tmp_path: Path) -> None:
    pool = CheckWorkers(2, min_chunk=100)
    node = _node(tmp_path, "n", pool)
    node.ingest(_mixed_batch(400))
    pids = pool.worker_pids()
    assert len(pids) == 2
    node.close()
    assert pool.worker_pids() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert len(node.ingest(_mixed_batch(400))) == 400      # restarts on next use
    node.close()


def test_small_batches_stay_in_the_calling_process(tmp_path: Path) -> None:
    pool = CheckWorkers(2, min_chunk=100)
    node = _node(tmp_path, "n", pool)
    assert [a.status for a in node.ingest(_mixed_batch(3))] == ["accepted"] * 3
    assert pool.items_in_workers == 0 and pool.worker_pids() == []


def test_encode_reading_fields_equals_the_dataclass_encoding_and_names_a_bad_field() -> None:
    r = Reading(DEV, 7, T0, T0 + 60, 1, -12, -3, 5)
    assert encode_reading_fields(DEV, 7, T0, T0 + 60, 1, -12, -3, 5) == encode_reading_leaf_values(r)
    with pytest.raises(ValueError, match="Reading.scale"):
        encode_reading_fields(DEV, 7, T0, T0 + 60, 1, -12, 128, 5)
    with pytest.raises(ValueError, match="Reading.flags"):
        encode_reading_fields(DEV, 7, T0, T0 + 60, 1, -12, 0, True)          # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Reading.device"):
        encode_reading_fields(DEV[:31], 7, T0, T0 + 60, 1, -12, 0, 0)


def test_check_workers_refuse_bad_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="processes"):
        CheckWorkers(-1)
    with pytest.raises(ValueError, match="min_chunk"):
        CheckWorkers(1, min_chunk=0)
    monkeypatch.setenv(WORKERS_ENV, "two")
    with pytest.raises(ValueError, match=WORKERS_ENV):
        default_processes()
    monkeypatch.setenv(WORKERS_ENV, "0")
    assert default_processes() == 0 and CheckWorkers().processes == 0
    monkeypatch.delenv(WORKERS_ENV)
    assert default_processes() == (os.cpu_count() or 1)


def test_provenance_leaves_and_signers_are_the_same_in_workers_and_name_no_signer_for_a_bad_signature() -> None:
    batch = [sr for sr in _mixed_batch(700) if type(sr.reading.flags) is int and sr.reading.value < 2**63]
    rows = [(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, sr.signature)
            for sr in batch for r in (sr.reading,)]
    with CheckWorkers(2, min_chunk=100) as pool:
        got = pool.map_chunks(reading_leaves_and_signers, rows, SEP)
        assert pool.items_in_workers == len(rows)
    assert got == reading_leaves_and_signers(SEP, rows)
    assert [leaf for leaf, _ in got] == [reading_leaf(sr.reading, sr.signature) for sr in batch]
    device_key = Signer(KEY).address_bytes
    signers = [who for _, who in got]
    assert signers.count(device_key) > 600 and None in signers          # v = 1, short and high-s signatures
    with pytest.raises(ValueError, match="domain separator"):
        reading_leaves_and_signers(SEP[:31], rows)


_KILLED_PARENT = """
from ledger.meter_data.workers import CheckWorkers
from oracles.checks import check_readings
pool = CheckWorkers(2, min_chunk=1)
pool.map_chunks(check_readings, [(b"x", 1, 0, 60, 1, 5, 0, 0, b"")] * 4, bytes(32), 10**9, None, {})
print(*pool.worker_pids(), flush=True)
import time
time.sleep(600)
"""


def test_workers_end_when_their_parent_is_killed() -> None:
    """A node killed by SIGKILL never runs its clean-up; its check workers must still go."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _alive(p)]
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")   # a zombie has exited


def test_readings_with_proofs_pages_by_sequence_with_proofs_against_each_batch_root(tmp_path: Path) -> None:
    node = _node(tmp_path, "n", CheckWorkers(0))
    acks = node.ingest(_wire_batch(300))                # the faulty ones are quarantined, the rest stored
    assert sum(a.status == "accepted" for a in acks) > 250
    half = T0 + 60 * 150
    trees = {}
    for bid, (start, end) in enumerate(((T0, half), (half, T0 + 60 * 300)), start=1):
        leaves, _ = node.reading_rows_between(DEV, start, end)
        trees[bid] = SimpleNamespace(batch_id=bid, start=start, end=end, root=StandardMerkleTree.from_leaf_hashes(leaves).root)
    everything = list(readings_with_proofs(node, DEV, list(trees.values())))
    stored = {seq for _, seq, _, _ in _store(node)[0]}
    assert [x["id"] for x in everything] == sorted(stored)
    for x in everything:
        b = trees[x["batch_id"]]
        assert x["root_matches"] and b.start <= x["reading"]["start"] < b.end
        assert StandardMerkleTree.verify(b.root, bytes.fromhex(x["leaf"][2:]), [bytes.fromhex(p[2:]) for p in x["proof"]])
    cursor = everything[200]["id"]                  # a page after a cursor in the second batch: the same items
    assert list(readings_with_proofs(node, DEV, list(trees.values()), cursor)) == everything[201:]
    assert list(readings_with_proofs(node, DEV, list(trees.values()), everything[-1]["id"])) == []


def test_start_brings_up_every_worker_before_the_first_batch(tmp_path: Path) -> None:
    with CheckWorkers(2, min_chunk=100) as pool:
        pids = pool.start()
        assert len(pids) == 2 and os.getpid() not in pids and pool.worker_pids() == pids
        node = _node(tmp_path, "n", pool)
        node.ingest(_mixed_batch(400))
        assert pool.worker_pids() == pids and pool.chunks_in_workers == 2      # the same workers checked it
    assert CheckWorkers(0).start() == []
