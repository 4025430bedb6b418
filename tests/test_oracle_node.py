"""Oracle node: every refusal path keeps a reason, and nothing accepted is lost or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.crypto.primitives import Signer as _S
from ledger.identifiers import device_id, org_id
from ledger.meter_data.reading import Reading
from ledger.store.db import make_engine, sqlite_url
from oracles.chain_devices import ChainDeviceDirectory
from oracles.device import DeviceSigner
from oracles.formats.ampd_hourly import load_ampd_hourly
from oracles.node import OracleNode, SignedReading
from oracles.store import QuarantinedReading, StoredReading
from tests.conftest import CAL_FROM, CAL_UNTIL, USCC, World, shared_data
from tests.helpers import DAY0, minute_readings

NOW = DAY0 + 10 * 86_400


def make_node(w: World, tmp: Path, name: str = "oracle-1") -> OracleNode:
    return OracleNode(name, Signer(w.keys[name]), make_engine(sqlite_url(tmp / f"{name}.sqlite")), w.dep.domain.separator,
                      ChainDeviceDirectory(w.dep, ttl=0), lambda: bytes(w.call(w.dep.anchor.functions.configDigest())),
                      clock=lambda: NOW)


def signed(w: World, readings: list[Reading], key: bytes | None = None) -> list[SignedReading]:
    dev = DeviceSigner(w.device, key or w.device_key, w.dep.domain.separator)
    return [dev.sign(r) for r in readings]


def stored(node: OracleNode) -> list[tuple[int, int]]:
    with Session(node.engine) as s:
        return [(r.sequence, r.value) for r in s.scalars(select(StoredReading).order_by(StoredReading.sequence))]


def quarantined(node: OracleNode) -> list[str]:
    with Session(node.engine) as s:
        return list(s.scalars(select(QuarantinedReading.reason).order_by(QuarantinedReading.id)))


def test_node_accepts_good_readings_and_acknowledges_an_identical_resend_once(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    batch = signed(chain, minute_readings(chain.device, DAY0, [100, 200, 300]))
    assert [a.status for a in node.ingest(batch)] == ["accepted"] * 3
    assert [a.status for a in node.ingest(batch[1:2])] == ["duplicate"]
    assert stored(node) == [(1, 100), (2, 200), (3, 300)]


def test_node_refuses_the_same_sequence_with_a_different_payload_as_conflict(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100, 200])))
    forged = signed(chain, [Reading(chain.device, 2, DAY0 + 60, DAY0 + 120, 1, 999, 0, 0)])
    ack = node.ingest(forged)[0]
    assert (ack.status, ack.reason) == ("rejected", "conflict")
    assert stored(node) == [(1, 100), (2, 200)] and quarantined(node) == ["conflict"]


def test_node_refuses_a_wrong_signature(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    ack = node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100]), key=new_private_key()))[0]
    assert ack.reason == "bad_signature" and "device key is" in (ack.detail or "")
    good = signed(chain, minute_readings(chain.device, DAY0, [100]))[0]
    tampered = SignedReading(Reading(chain.device, 1, DAY0, DAY0 + 60, 1, 101, 0, 0), good.signature)
    assert node.ingest([tampered])[0].reason == "bad_signature"
    assert stored(node) == []


def test_node_refuses_an_unregistered_device(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    other = keccak256(b"unknown meter")
    dev = DeviceSigner(other, chain.device_key, chain.dep.domain.separator)
    ack = node.ingest([dev.sign(Reading(other, 1, DAY0, DAY0 + 60, 1, 5, 0, 0))])[0]
    assert ack.reason == "unregistered_device"


def test_node_refuses_a_revoked_device_and_keeps_what_it_accepted(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100])))
    chain.tx(chain.dep.devices.functions.revokeDevice(chain.device, keccak256(b"seal broken")), "enterprise")
    ack = node.ingest(signed(chain, minute_readings(chain.device, DAY0 + 60, [100], first_seq=2)))[0]
    assert ack.reason == "device_revoked"
    assert stored(node) == [(1, 100)]


@pytest.mark.parametrize(("reading", "reason"), [
    (Reading(b"", 1, NOW + 3600, NOW + 3660, 1, 100, 0, 0), "in_future"),
    (Reading(b"", 1, DAY0, DAY0 + 60, 1, -5, 0, 0), "implausible_value"),
    (Reading(b"", 1, DAY0, DAY0 + 60, 1, 2_000_000_000, 0, 0), "implausible_value"),
    (Reading(b"", 1, DAY0 + 60, DAY0, 1, 100, 0, 0), "bad_interval"),
    (Reading(b"", 1, DAY0, DAY0 + 7200, 1, 100, 0, 0), "bad_interval"),
    (Reading(b"", 1, DAY0, DAY0 + 60, 2, 100, 0, 0), "wrong_quantity"),
    (Reading(b"", 2**64, DAY0, DAY0 + 60, 1, 100, 0, 0), "malformed"),
])
def test_node_refuses_bad_readings_with_a_reason(chain: World, tmp_path: Path, reading: Reading, reason: str) -> None:
    node = make_node(chain, tmp_path)
    node.ingest(signed(chain, minute_readings(chain.device, DAY0 - 600, [100])))
    r = Reading(chain.device, *[getattr(reading, f) for f in ("sequence", "start", "end", "quantity_code", "value", "scale", "flags")])
    sig = b"\x00" * 65 if reason == "malformed" else signed(chain, [r])[0].signature
    ack = node.ingest([SignedReading(r, sig)])[0]
    assert (ack.status, ack.reason) == ("rejected", reason), ack
    assert stored(node) == [(1, 100)]
    assert quarantined(node) == [reason]


def test_node_refuses_decreasing_sequences_and_overlaps(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100], first_seq=10)))
    acks = node.ingest(signed(chain, [Reading(chain.device, 5, DAY0 + 60, DAY0 + 120, 1, 1, 0, 0),
                                      Reading(chain.device, 11, DAY0 + 30, DAY0 + 90, 1, 1, 0, 0)]))
    assert [a.reason for a in acks] == ["sequence_not_increasing", "interval_overlaps"]


def test_node_keeps_late_readings_out_of_the_signed_report_and_signs_a_correction(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100])))
    first = node.build_report(chain.device, DAY0, DAY0 + 86_400)
    assert first is not None and first.report.count == 1
    late = node.ingest(signed(chain, minute_readings(chain.device, DAY0 + 600, [100], first_seq=2)))[0]
    assert (late.status, late.reason) == ("accepted", "late")
    assert node.build_report(chain.device, DAY0, DAY0 + 86_400) == first      # the signed report does not move
    corr = node.build_correction(chain.device, DAY0, DAY0 + 86_400, 7, first.report.root)
    assert corr is not None and corr.report.count == 2 and corr.report.supersedes == (7).to_bytes(32, "big")
    assert node.build_correction(chain.device, DAY0, DAY0 + 86_400, 7, first.report.root) == corr   # idempotent
    assert node.build_correction(chain.device, DAY0, DAY0 + 86_400, 8, corr.report.root) is None    # nothing left to correct


def test_node_accepts_a_reading_that_fills_a_gap_and_refuses_one_that_breaks_time_order(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    rs = minute_readings(chain.device, DAY0, [100, 200, 300, 400])
    node.ingest(signed(chain, [rs[0], rs[3]]))                 # 2 and 3 lost in transit
    acks = node.ingest(signed(chain, [rs[2], rs[1]]))          # redelivered, out of order
    assert [(a.status, a.reason) for a in acks] == [("accepted", "out_of_order")] * 2
    assert stored(node) == [(1, 100), (2, 200), (3, 300), (4, 400)]
    bad = node.ingest(signed(chain, [Reading(chain.device, 5, DAY0 - 120, DAY0 - 60, 1, 1, 0, 0)]))[0]
    assert bad.reason == "interval_overlaps"
    node2 = make_node(chain, tmp_path, "oracle-2")
    node2.ingest(signed(chain, [rs[0], rs[3]]))
    wrong = node2.ingest(signed(chain, [Reading(chain.device, 2, DAY0 + 150, DAY0 + 210, 1, 1, 0, 0)]))[0]
    assert wrong.reason == "sequence_not_increasing"           # overlaps the reading after it


def test_node_quarantines_readings_of_another_device_than_expected(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    ack = node.ingest(signed(chain, minute_readings(chain.device, DAY0, [100])), expect_device=keccak256(b"other"))[0]
    assert (ack.status, ack.reason) == ("rejected", "malformed") and stored(node) == []


def test_quarantine_keeps_the_payload_as_received(chain: World, tmp_path: Path) -> None:
    node = make_node(chain, tmp_path)
    bad = signed(chain, minute_readings(chain.device, DAY0, [-1]))[0]
    node.ingest([bad])
    with Session(node.engine) as s:
        payload = json.loads(s.scalar(select(QuarantinedReading.payload)))
        assert payload == bad.to_json()
        assert s.scalar(select(func.count()).select_from(StoredReading)) == 0


def test_nodes_build_the_same_root_and_the_report_is_idempotent(chain: World, tmp_path: Path) -> None:
    a, b = make_node(chain, tmp_path, "oracle-1"), make_node(chain, tmp_path, "oracle-2")
    batch = signed(chain, minute_readings(chain.device, DAY0, [100, 250, 4000]))
    a.ingest(batch)
    b.ingest(list(reversed(batch))[:1])   # b sees only the last reading first...
    b.ingest(batch[:2])                   # ...then the rest out of order: they fill the gap
    ra = a.build_report(chain.device, DAY0, DAY0 + 86_400)
    assert ra is not None and ra.report.count == 3 and ra.report.total_wh == 73  # (100+250+4000)·60/3600 = 72.5 → 73
    assert a.build_report(chain.device, DAY0, DAY0 + 86_400) == ra
    rb = b.build_report(chain.device, DAY0, DAY0 + 86_400)
    assert rb is not None and rb.report.root == ra.report.root and rb.digest == ra.digest   # same data, same report
    c = make_node(chain, tmp_path, "oracle-3")
    c.ingest(batch[:2])                   # c misses a reading: its report differs
    rc = c.build_report(chain.device, DAY0, DAY0 + 86_400)
    assert rc is not None and rc.report.root != ra.report.root


def test_node_ingests_real_cems_hours_of_a_registered_co2_channel(chain: World, tmp_path: Path) -> None:
    """AMPD hourly CEMS (Moss Landing 1A, 2019-01-01, local standard time → UTC): the CO2-mass
    channel (quantity 12, kg) is a device of its own; the node accepts its hours with their
    measure-flag bits and refuses the same hour signed as another quantity."""

    data = load_ampd_hourly(shared_data("cems/cems_moss_landing_unit1A_2019-01-01_h0-5_sample.csv"))
    key = new_private_key()
    dev = device_id(USCC["enterprise"], "CEMS-260-1A-CO2")
    chain.tx(chain.dep.devices.functions.registerDevice(dev, org_id(USCC["enterprise"]), _S(key).address, 12,
                                                                    keccak256(b"serial CEMS-260-1A-CO2")), "enterprise")
    # contracts v2: the calibration (here the CEMS RATA certificate) is recorded by the calibration body
    chain.tx(chain.dep.devices.functions.recordCalibration(dev, CAL_FROM, CAL_UNTIL + 10 * 365 * 86_400,
                                                           keccak256(b"CEMS RATA certificate (test)")), "calibration")
    readings = [h.reading("co2_mass", dev) for h in data.rows]
    node = OracleNode("oracle-1", Signer(chain.keys["oracle-1"]), make_engine(sqlite_url(tmp_path / "n.sqlite")), chain.dep.domain.separator,
                      ChainDeviceDirectory(chain.dep, ttl=0), lambda: bytes(chain.call(chain.dep.anchor.functions.configDigest())),
                      clock=lambda: readings[-1].end + 3_600)
    signer = DeviceSigner(dev, key, chain.dep.domain.separator)
    acks = node.ingest([signer.sign(r) for r in readings])
    assert [a.status for a in acks] == ["accepted"] * 6
    assert {r.value for r in readings} == {90_966}                # 100.273 short tons = 90,966 kg each hour
    wrong = Reading(dev, readings[-1].sequence + 1, readings[-1].end, readings[-1].end + 3_600, 1, 5, 0, 0)
    assert node.ingest([signer.sign(wrong)])[0].reason == "wrong_quantity"
