"""The generated contract bindings: regenerating them from the compiled ABIs gives the committed
files byte for byte; structs, results and events decode by the ABI's field names; bad arguments
and foreign logs are refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address
from web3 import Web3

from ledger.chain.abi import abi_type, event_topic, selector, signature
from ledger.chain.client import Call, ContractRevert
from ledger.contracts import codegen
from ledger.contracts._generated.ccer_registry import CCERRegistryFunctions, RetirementRequest
from ledger.contracts._generated.compliance import StatusRow
from ledger.contracts._generated.device_registry import DeviceResult
from ledger.contracts._generated.meter_data_anchor import (
    ABI as ANCHOR_ABI,
)
from ledger.contracts._generated.meter_data_anchor import (
    Batch,
    BatchAnchored,
    BatchReport,
    MeterDataAnchor,
    MeterDataAnchorFunctions,
    OracleSetChanged,
    OraclesResult,
)
from ledger.contracts._generated.participant_registry import ParticipantRegistryFunctions
from ledger.contracts._generated.settlement import Order, SettlementFunctions, Trade
from ledger.contracts.anchored import AnchoredBatch, device_batches, split_signatures
from ledger.contracts.binding import encode_call, json_ready, to_abi
from ledger.contracts.compiler import Artifact
from ledger.contracts.deployment import Deployment, DeploymentError, load_manifest
from ledger.crypto.primitives import keccak256
from ledger.meter_data.reading import BatchReport as ReportMirror
from ledger.meter_data.reading import Reading as ReadingMirror
from tests.conftest import World
from tests.helpers import DAY0, as_tuple, minute_readings, report_for, sign_report

ADDR = "0x" + "12" * 20


def _fn(name: str) -> dict:
    return next(i for i in ANCHOR_ABI if i.get("type") == "function" and i["name"] == name)


# ----------------------------------------------------------------------------- generation
def test_regenerating_from_the_compiled_abis_gives_the_committed_files(artifacts: dict[str, Artifact]) -> None:
    expected = codegen.expected_files(artifacts)
    assert set(expected) == {codegen.GENERATED_DIR / f"{codegen.snake(n)}.py" for n in codegen.BOUND_CONTRACTS} | {
        codegen.GENERATED_DIR / "__init__.py"}
    stale = [p.name for p, text in expected.items() if p.read_text() != text]
    assert stale == [], f"run `python -m ledger.contracts.codegen`: {stale} differ from the ABIs"
    assert codegen.stale_files(artifacts) == []


def test_an_abi_change_makes_the_generated_module_stale(artifacts: dict[str, Artifact]) -> None:
    art = artifacts["DeviceRegistry"]
    abi = json.loads(json.dumps(art.abi))
    fn = next(i for i in abi if i.get("type") == "function" and i["name"] == "device")
    fn["outputs"][0]["name"] = "ownerOrganisation"   # a renamed output: a new field name
    changed = codegen.generate("DeviceRegistry", abi, art.abi_sha256)
    assert "ownerOrganisation: bytes" in changed
    assert changed != (codegen.GENERATED_DIR / "device_registry.py").read_text()


def test_generation_is_deterministic(artifacts: dict[str, Artifact]) -> None:
    a = codegen.generate("Compliance", artifacts["Compliance"].abi, artifacts["Compliance"].abi_sha256)
    b = codegen.generate("Compliance", json.loads(json.dumps(artifacts["Compliance"].abi)), artifacts["Compliance"].abi_sha256)
    assert a == b


def test_module_names_follow_the_contract_names() -> None:
    assert [codegen.snake(n) for n in ("CCERRegistry", "MeterDataAnchor", "CashToken", "EvidenceRegistry")] == [
        "ccer_registry", "meter_data_anchor", "cash_token", "evidence_registry"]


def test_overloaded_functions_get_their_input_types_appended(artifacts: dict[str, Artifact]) -> None:
    text = (codegen.GENERATED_DIR / "carbon_assets.py").read_text()
    assert "def totalSupply_(self" in text and "def totalSupply_uint256(self, id: int" in text


def test_struct_dataclasses_carry_the_abi_member_names_in_order() -> None:
    batch_abi = _fn("batch")["outputs"][0]
    assert [f.name for f in dataclasses.fields(Batch)] == [c["name"] for c in batch_abi["components"]]
    assert Batch.__dataclass_params__.frozen and Trade.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(DeviceResult)] == ["ownerOrg", "signer", "quantityCode",
                                                                  "calibratedUntil", "status"]


# ----------------------------------------------------------------------------- decoding by name
def test_a_struct_result_decodes_by_field_name() -> None:
    fc = MeterDataAnchorFunctions(ADDR).batch(7)
    assert fc.data == selector(_fn("batch")) + abi_encode(["uint256"], [7]) and fc.fn_name == "batch"
    raw = abi_encode([abi_type(_fn("batch")["outputs"][0])],
                     [(b"\x01" * 32, b"\x02" * 32, 100, 200, 3, 42, 0, 9)])
    b = fc.decode(raw)
    assert isinstance(b, Batch)
    assert (b.device, b.start, b.end, b.count, b.totalWh, b.root) == (b"\x01" * 32, 100, 200, 3, 42, b"\x02" * 32)
    assert (b.supersedes, b.supersededBy) == (0, 9)
    a = AnchoredBatch.of(11, b)
    assert (a.batch_id, a.total_wh, a.superseded_by, a.supersedes) == (11, 42, 9, 0)
    assert b.as_json()["root"] == "0x" + "02" * 32


def test_several_named_outputs_decode_into_the_result_dataclass() -> None:
    fc = MeterDataAnchorFunctions(ADDR).oracles()
    raw = abi_encode(["address[]", "uint8", "uint64"], [[ADDR, "0x" + "ab" * 20], 2, 4])
    r = fc.decode(raw)
    assert isinstance(r, OraclesResult)
    assert r.oracles_ == (to_checksum_address(ADDR), to_checksum_address("0x" + "ab" * 20))   # EIP-55 strings
    assert (r.quorum, r.version) == (2, 4)


def test_an_array_of_structs_decodes_to_a_tuple_of_dataclasses(artifacts: dict[str, Artifact]) -> None:
    from_abi = next(i for i in artifacts["Compliance"].abi if i.get("type") == "function" and i["name"] == "statusTable")
    names = [c["name"] for c in from_abi["outputs"][0]["components"]]
    row = {n: 0 for n in names} | {"enterprise": b"\x05" * 32, "allocationFinal": True, "obligation": 77}
    raw = abi_encode([abi_type(from_abi["outputs"][0])], [[tuple(row[n] for n in names)]])
    (got,) = encode_call(ADDR, from_abi, (2019, [b"\x05" * 32]), {"StatusRow": StatusRow}).decode(raw)
    assert isinstance(got, StatusRow) and got.obligation == 77 and got.allocationFinal is True
    assert got.as_json()["enterprise"] == "0x" + "05" * 32


def test_an_event_decodes_by_argument_name_with_indexed_topics() -> None:
    item = next(i for i in ANCHOR_ABI if i.get("type") == "event" and i["name"] == "OracleSetChanged")
    indexed = [i for i in item["inputs"] if i.get("indexed")]
    plain = [i for i in item["inputs"] if not i.get("indexed")]
    values = {"version": 3, "oracles": [ADDR], "f": 1, "quorum": 3, "configDigest": b"\x07" * 32}
    topics = ["0x" + event_topic(item).hex()] + ["0x" + abi_encode([abi_type(i)], [values[i["name"]]]).hex() for i in indexed]
    data = "0x" + abi_encode([abi_type(i) for i in plain], [values[i["name"]] for i in plain]).hex()
    ev = OracleSetChanged.decode({"topics": topics, "data": data})
    assert (ev.version, ev.oracles, ev.f, ev.quorum, ev.configDigest) == (3, (ADDR,), 1, 3, b"\x07" * 32)
    assert OracleSetChanged.topic() == keccak256(signature(item).encode())


def test_event_decode_refuses_a_log_of_another_event() -> None:
    item = next(i for i in ANCHOR_ABI if i.get("type") == "event" and i["name"] == "OracleSetChanged")
    with pytest.raises(ValueError, match="not a BatchAnchored event"):
        BatchAnchored.decode({"topics": ["0x" + event_topic(item).hex()], "data": "0x"})


# ----------------------------------------------------------------------------- encoding refusals
def test_a_call_with_the_wrong_number_of_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match="batch takes 1 arguments, got 2"):
        encode_call(ADDR, _fn("batch"), (1, 2), {})


def test_a_struct_argument_of_the_wrong_shape_is_refused() -> None:
    report_item = _fn("anchor")["inputs"][0]
    with pytest.raises(TypeError, match="expected BatchReport, got int"):
        to_abi(5, report_item)
    with pytest.raises(TypeError, match="expected BatchReport, got tuple"):
        to_abi((1, 2, 3), report_item)


def test_a_struct_dataclass_encodes_as_the_tuple_in_member_order() -> None:
    rep = BatchReport(configDigest=b"\x01" * 32, device=b"\x02" * 32, start=1, end=2, count=3, totalWh=4,
                      root=b"\x03" * 32, supersedes=b"\x00" * 32)
    assert to_abi(rep, _fn("anchor")["inputs"][0]) == (b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32, b"\x00" * 32)
    assert json_ready((rep,))[0]["device"] == "0x" + "02" * 32


# ----------------------------------------------------------------------------- on a chain
def test_bound_calls_read_structs_and_events_by_name_on_chain(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    assert isinstance(a, MeterDataAnchor)
    rs = minute_readings(w.device, DAY0, [1000, 2000], 1)
    rep, _ = report_for(rs, a.configDigest(), DAY0, DAY0 + 86_400)
    sigs = sign_report(rep, w.dep.domain.separator, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    call = a.anchor(as_tuple(rep), sigs, sender=w.acct["oracle-1"], label="anchor a day")
    assert isinstance(call, Call) and call.to == a.address and call.label == "anchor a day"
    res = w.client.send([call])[0]
    (ev,) = a.decode_events(res, BatchAnchored)
    assert ev.device == w.device and ev.root == rep.root and split_signatures(ev.signatures) == sigs
    assert a.decode_events(res, "BatchSuperseded") == []
    b = a.batch(ev.batchId)
    assert (b.start, b.end, b.totalWh, b.root) == (DAY0, DAY0 + 86_400, rep.total_wh, rep.root)
    [logged] = a.get_logs(BatchAnchored, res.block_number, res.block_number, device=w.device)
    assert logged.event == ev and logged.tx_hash == res.tx_hash and logged.block_number == res.block_number
    assert a.get_logs(BatchAnchored, res.block_number, res.block_number, device=b"\x09" * 32) == []
    [d] = device_batches(a, w.device)
    assert d.batch == AnchoredBatch.of(ev.batchId, b) and d.original_id == ev.batchId
    counts = w.client.call_many([a.functions.batchCount(), a.functions.deviceBatchCount(w.device)])
    assert counts == [a.batchCount(), 1]
    assert a.oracles().quorum == w.dep.quorum() == 3


def test_get_logs_refuses_a_filter_on_an_argument_that_is_not_indexed(chain: World) -> None:
    with pytest.raises(ValueError, match="not indexed"):
        chain.dep.anchor.get_logs(BatchAnchored, 0, quorum=2)


def test_a_reverting_read_raises_the_custom_error(chain: World) -> None:
    with pytest.raises(ContractRevert) as exc:
        chain.dep.anchor.batch(10**6)
    assert exc.value.error == "UnknownBatch"


def test_decode_input_names_the_function_and_its_arguments(chain: World) -> None:
    em = chain.dep.emissions
    call = em.attest(7, b"\x01" * 32, b"\x02" * 32, sender=chain.acct["verifier"])
    assert em.decode_input(call.data) == ("attest", {"recordId": 7, "verificationReportHash": b"\x01" * 32,
                                                     "findingsHash": b"\x02" * 32})
    with pytest.raises(ValueError, match="no function with selector"):
        em.decode_input(b"\xde\xad\xbe\xef")


def test_a_manifest_naming_an_unknown_contract_is_refused(chain: World) -> None:
    bad = {**chain.dep.manifest, "contracts": {**chain.dep.manifest["contracts"], "Mystery": {"address": ADDR, "abi": []}}}
    with pytest.raises(DeploymentError, match="Mystery"):
        Deployment(chain.client, bad)


def test_load_manifest_refuses_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    p = tmp_path / "deployment.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DeploymentError, match="not a deployment manifest"):
        load_manifest(p)


def test_a_python_mirror_encodes_by_the_snake_case_of_the_member_names() -> None:
    rep = ReportMirror(b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32)
    item = _fn("anchor")["inputs"][0]
    assert to_abi(rep, item) == (b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32, bytes(32))
    r = ReadingMirror(b"\x04" * 32, 9, 10, 70, 1, 500, 0, 0)
    assert to_abi(r, _fn("verifyReading")["inputs"][1]) == (b"\x04" * 32, 9, 10, 70, 1, 500, 0, 0)

    @dataclasses.dataclass
    class Partial:
        device: bytes

    with pytest.raises(TypeError, match="no member 'sequence'"):
        to_abi(Partial(b"\x04" * 32), _fn("verifyReading")["inputs"][1])


def test_an_anchored_batch_gives_back_the_report_its_oracles_signed() -> None:
    b = AnchoredBatch(12, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32, 7, 0)
    assert b.report(b"\x01" * 32) == ReportMirror(b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32,
                                                 (7).to_bytes(32, "big"))
    assert AnchoredBatch(12, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32, 0, 0).report(bytes(32)).supersedes == bytes(32)


def test_binding_calldata_is_bit_identical_to_web3(artifacts: dict[str, Artifact]) -> None:
    """The bindings encode with eth_abi directly; web3's public encoder is the independent check."""
    w3 = Web3()
    other = to_checksum_address("0x" + "22" * 20)

    def web3_data(name: str, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(w3.eth.contract(address=other, abi=artifacts[name].abi).encode_abi(fn, args=list(args))[2:])

    rep = BatchReport(b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, b"\x03" * 32, bytes(32))
    sigs = [b"\x05" * 65, b"\x06" * 65]
    assert MeterDataAnchorFunctions(other).anchor(rep, sigs).data == web3_data("MeterDataAnchor", "anchor", to_abi(
        rep, _fn("anchor")["inputs"][0]), sigs)
    buy, sell = Order(ADDR, 5, 0, 10, 9_800, 3, 2**40, 7), Order(other, 5, 1, 10, 9_700, 3, 2**40, 8)
    trades = [Trade(buy, b"\x01" * 65, sell, b"\x02" * 65, 0, 10, 9_800, 1, 2), Trade(buy, b"", sell, b"\x03", 1, 1, 1, 0, 0)]
    settle = SettlementFunctions(other).settle(trades, True)
    assert settle.data == web3_data("Settlement", "settle", [dataclasses.astuple(t) for t in trades], True)
    req = RetirementRequest(holder=ADDR, batchId=3, amount=7, serialPrefix="CCER-1-", serialStart=1, serialEnd=7,
                            beneficiary="b", purpose="p", reason="r")
    assert CCERRegistryFunctions(other).retire(req).data == web3_data("CCERRegistry", "retire", dataclasses.astuple(req))
    admit = (b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 28_800, other, "plant 7")
    assert ParticipantRegistryFunctions(other).admit(*admit).data == web3_data("ParticipantRegistry", "admit", *admit)
