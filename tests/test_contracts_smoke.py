"""Smoke test of the five core contracts on a throwaway Anvil node (pre-Shanghai ``paris``).

Deploys ParticipantRegistry, DeviceRegistry, EmissionFactorRegistry, MeterDataAnchor, MeterRounds and
EmissionsRegistry; admits an enterprise, a verifier and four oracle operators and a calibration body; anchors batches
signed by 3 of 4 oracles (OCR2, n = 4, f = 1) (eth-account EIP-712 signatures); sums a month of Wh; and runs a record
through Draft → Submitted → Verified → Confirmed. It also checks the refusal paths that guard
the meter-data path. This module starts and stops its own node; every test runs inside an
``evm_snapshot``/``evm_revert`` pair.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import RPCEndpoint

from ledger.accounting.emissions import emissions_kg
from ledger.chain.anvil import free_port
from ledger.contracts.compiler import Artifact, compile_contracts
from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
#: anvil's first default dev account (public knowledge; funded on every fresh anvil chain).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

READING_TYPES = ["bytes32", "uint64", "uint64", "uint64", "uint16", "int64", "int8", "uint32"]
EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
READING_FIELDS = [
    {"name": "device", "type": "bytes32"},
    {"name": "sequence", "type": "uint64"},
    {"name": "start", "type": "uint64"},
    {"name": "end", "type": "uint64"},
    {"name": "quantityCode", "type": "uint16"},
    {"name": "value", "type": "int64"},
    {"name": "scale", "type": "int8"},
    {"name": "flags", "type": "uint32"},
]
REPORT_FIELDS = [
    {"name": "configDigest", "type": "bytes32"},
    {"name": "device", "type": "bytes32"},
    {"name": "start", "type": "uint64"},
    {"name": "end", "type": "uint64"},
    {"name": "count", "type": "uint32"},
    {"name": "totalWh", "type": "uint64"},
    {"name": "root", "type": "bytes32"},
    {"name": "supersedes", "type": "bytes32"},
]

BEIJING = 8 * 3600
YEAR, MONTH = 2024, 3
GRID_EF_SCALED = 5703  # 0.5703 tCO2/MWh, 环办气候函〔2023〕43号
ZERO32 = bytes(32)

@pytest.fixture(autouse=True, scope="module")
def _anvil_and_node() -> None:
    """Anvil and node are installed by test.sh (scripts/bootstrap.sh); else skip (fail under CI=true)."""
    if not ANVIL.is_file() or shutil.which("node") is None:
        unavailable("anvil binary or node is not installed")


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def _month_start(year: int, month: int, offset: int) -> int:
    return int(datetime(year, month, 1, tzinfo=timezone(timedelta(seconds=offset))).timestamp())


@dataclass
class World:
    w3: Web3
    c: dict[str, Any]
    a: dict[str, LocalAccount]
    errors: dict[bytes, tuple[str, list[str]]]
    ent_org: bytes
    device: bytes
    device_key: LocalAccount

    # ---------------------------------------------------------------- helpers
    def tx(self, fn: Any, sender: str) -> Any:
        h = fn.transact({"from": self.a[sender].address})
        r = self.w3.eth.wait_for_transaction_receipt(h, timeout=30)
        assert r["status"] == 1
        return r

    def revert(self, fn: Any, sender: str) -> tuple[str, tuple[Any, ...]]:
        """Call ``fn`` expecting a custom-error revert; return (error name, decoded args)."""
        with pytest.raises(ContractCustomError) as info:
            fn.call({"from": self.a[sender].address})
        data = info.value.data
        assert isinstance(data, str), data
        raw = bytes.fromhex(data[2:])
        name, types = self.errors[raw[:4]]
        values = abi_decode(types, raw[4:])
        return name, tuple(
            Web3.to_checksum_address(v) if t == "address" else v
            for t, v in zip(types, values, strict=True)
        )

    def domain(self) -> dict[str, Any]:
        return {
            "name": "CarbonLedger MeterDataAnchor",
            "version": "1",
            "chainId": self.w3.eth.chain_id,
            "verifyingContract": self.c["MeterDataAnchor"].address,
        }

    def report(
        self,
        start: int,
        end: int,
        readings: list[tuple[Any, ...]],
        supersedes: int = 0,
        digest: bytes | None = None,
        sigs: list[bytes] | None = None,
    ) -> tuple[Any, ...]:
        wh = (sum((r[3] - r[2]) * r[5] for r in readings) + 1800) // 3600
        return (
            digest or bytes(self.c["MeterDataAnchor"].functions.configDigest().call()),
            self.device,
            start,
            end,
            len(readings),
            wh,
            merkle_root([leaf(r, s) for r, s in zip(readings, sigs or [NO_SIG] * len(readings), strict=True)]),
            supersedes.to_bytes(32, "big"),
        )

    def sign(self, report: tuple[Any, ...], *signers: str) -> list[bytes]:
        msg = {
            "types": {"EIP712Domain": EIP712_DOMAIN, "BatchReport": REPORT_FIELDS},
            "primaryType": "BatchReport",
            "domain": self.domain(),
            "message": dict(zip([f["name"] for f in REPORT_FIELDS], report, strict=True)),
        }
        signable = encode_typed_data(full_message=msg)
        return [bytes(Account.sign_message(signable, self.a[s].key).signature) for s in signers]

    def anchor(
        self, report: tuple[Any, ...], signers: tuple[str, ...] = ("oracle1", "oracle2", "oracle3")
    ) -> int:
        self.tx(
            self.c["MeterDataAnchor"].functions.anchor(report, self.sign(report, *signers)),
            "oracle1",
        )
        return int(self.c["MeterDataAnchor"].functions.batchCount().call())


    def sign_reading(self, r: tuple[Any, ...]) -> bytes:
        """The meter's EIP-712 signature of reading ``r``."""
        msg = {
            "types": {"EIP712Domain": EIP712_DOMAIN, "Reading": READING_FIELDS},
            "primaryType": "Reading",
            "domain": self.domain(),
            "message": dict(zip([f["name"] for f in READING_FIELDS], r, strict=True)),
        }
        return bytes(Account.sign_message(encode_typed_data(full_message=msg), self.device_key.key).signature)


#: Signature slot of readings whose device signature is not the subject (the anchor does not check
#: device signatures — the oracles do; verifyReading refuses such a reading).
NO_SIG = bytes(65)


def leaf(r: tuple[Any, ...], sig: bytes = NO_SIG) -> bytes:
    """Leaf of a reading and its device signature: the fields and keccak256(signature) (issue 12)."""
    return keccak(keccak(abi_encode([*READING_TYPES, "bytes32"], [*r, keccak(sig)])))


def merkle_root(leaves: list[bytes]) -> bytes:
    """StandardMerkleTree root for 1 or 2 leaves (sorted-pair hashing, OZ MerkleProof)."""
    assert 1 <= len(leaves) <= 2
    return leaves[0] if len(leaves) == 1 else keccak(b"".join(sorted(leaves)))


def readings(
    device: bytes, seq0: int, start: int, watts: list[int], step: int = 1800
) -> list[tuple[Any, ...]]:
    return [
        (device, seq0 + i, start + i * step, start + (i + 1) * step, 1, w, 0, 0)
        for i, w in enumerate(watts)
    ]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Artifact]:
    return compile_contracts(REPO, tmp_path_factory.mktemp("solc-cache"))


@pytest.fixture(scope="module")
def node() -> Iterator[Web3]:
    port = free_port()
    proc = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--silent", "--hardfork", "paris", "--chain-id", "31337"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 30}))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start on port {port}")
            time.sleep(0.1)
        yield w3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def world_base(node: Web3, compiled: dict[str, Artifact]) -> World:
    w3 = node
    names = [
        "regulator",
        "enterprise",
        "enterprise2",
        "verifier",
        "oracle1",
        "oracle2",
        "oracle3",
        "oracle4",
        "calibration",
        "outsider",
    ]
    accts = {"regulator": Account.from_key(DEV_KEY)}
    accts |= {n: Account.from_key(keccak(text=f"smoke {n}")) for n in names[1:]}
    for n in names[1:]:
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [accts[n].address, hex(10**21)])
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(list(accts.values())), layer=0)

    errors: dict[bytes, tuple[str, list[str]]] = {}
    for art in compiled.values():
        for e in art.abi:
            if e["type"] == "error":
                types = [i["type"] for i in e["inputs"]]
                errors[keccak(text=f"{e['name']}({','.join(types)})")[:4]] = (e["name"], types)

    reg = accts["regulator"].address
    c: dict[str, Any] = {}

    def deploy(name: str, *args: Any) -> None:
        art = compiled[name]
        h = (
            w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            .constructor(*args)
            .transact({"from": reg})
        )
        r = w3.eth.wait_for_transaction_receipt(h)
        assert r["status"] == 1, name
        c[name] = w3.eth.contract(address=r["contractAddress"], abi=art.abi)

    deploy("ParticipantRegistry", reg, keccak(text="org regulator"), _b32("11100000000013127W"))
    deploy("DeviceRegistry", c["ParticipantRegistry"].address)
    deploy("EmissionFactorRegistry", c["ParticipantRegistry"].address)
    deploy(
        "MeterDataAnchor",
        c["ParticipantRegistry"].address,
        c["DeviceRegistry"].address,
        keccak(text="salt"),
    )
    deploy(
        "MeterRounds",
        c["ParticipantRegistry"].address,
        c["DeviceRegistry"].address,
        c["MeterDataAnchor"].address,
    )
    deploy(
        "EmissionsRegistry",
        c["ParticipantRegistry"].address,
        c["DeviceRegistry"].address,
        c["EmissionFactorRegistry"].address,
        c["MeterDataAnchor"].address,
        c["MeterRounds"].address,
    )

    device_key = Account.from_key(keccak(text="smoke meter key"))
    world = World(
        w3, c, accts, errors, keccak(text="org enterprise"), keccak(text="meter 1"), device_key
    )
    pr = c["ParticipantRegistry"].functions
    roles = {
        "enterprise": "ENTERPRISE_ROLE",
        "enterprise2": "ENTERPRISE_ROLE",
        "verifier": "VERIFIER_ROLE",
        "oracle1": "ORACLE_ROLE",
        "oracle2": "ORACLE_ROLE",
        "oracle3": "ORACLE_ROLE",
        "oracle4": "ORACLE_ROLE",
        "calibration": "CALIBRATION_BODY_ROLE",
    }
    for i, (n, role) in enumerate(roles.items()):
        role_id = getattr(pr, role)().call()
        world.tx(
            pr.admit(
                keccak(text=f"org {n}"),
                role_id,
                _b32(f"91110000MA0{i}SMK00X"),
                BEIJING,
                accts[n].address,
                f"{n} Co., Ltd.",
            ),
            "regulator",
        )
    oracles = [accts[f"oracle{i}"].address for i in (1, 2, 3, 4)]
    world.tx(c["MeterDataAnchor"].functions.setOracles(oracles, 1), "regulator")  # n = 4, f = 1: 3 signatures
    world.tx(
        c["DeviceRegistry"].functions.registerDevice(world.device, world.ent_org, device_key.address, 1, keccak(text="serial meter-1")),
        "enterprise",
    )
    world.tx(
        c["DeviceRegistry"].functions.recordCalibration(world.device, 0, 2_000_000_000, keccak(text="cert")),
        "calibration",
    )
    ef = c["EmissionFactorRegistry"]
    world.tx(
        ef.functions.publishFactorSet(
            2023,
            2025,
            [ef.functions.GRID_EF().call()],
            [GRID_EF_SCALED],
            [4],
            "环办气候函〔2023〕43号",
            "2022 national grid average",
        ),
        "regulator",
    )
    # the regulator assigns set 1 to the enterprise's year (issue 12: not the record's choice)
    world.tx(c["EmissionsRegistry"].functions.assignFactorSet(world.ent_org, YEAR, 1), "regulator")
    return world


#: Substitute Wh the regulator assesses for the smoke tests' declared gaps.
SUBSTITUTE_WH = 1_000
#: Every day of March: the smoke tests anchor a few hours of its first day only.
ALL_MARCH = (1 << 31) - 1


def _declare_gap(world: World, mask: int = ALL_MARCH) -> None:
    """The enterprise declares ``mask`` of (YEAR, MONTH) as a gap; the regulator assesses SUBSTITUTE_WH."""
    em = world.c["EmissionsRegistry"].functions
    world.tx(em.declareGap(world.device, YEAR, MONTH, mask, keccak(text="gap")), "enterprise")
    world.tx(em.assessGap(world.device, YEAR, MONTH, SUBSTITUTE_WH, keccak(text="substitute")), "regulator")


@pytest.fixture
def world(world_base: World) -> Iterator[World]:
    snap = world_base.w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    yield world_base
    assert world_base.w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])["result"] is True


# ------------------------------------------------------------------------ the happy path


def test_month_of_anchored_meter_data_flows_to_confirmed_emissions(world: World) -> None:
    ws = _month_start(YEAR, MONTH, BEIJING)
    we = _month_start(YEAR, MONTH + 1, BEIJING)
    an = world.c["MeterDataAnchor"].functions
    em = world.c["EmissionsRegistry"].functions
    assert em.monthWindow(world.ent_org, YEAR, MONTH).call() == [ws, we]

    ra = readings(world.device, 1, ws, [1_234_567, 2_000_001])
    sa = [world.sign_reading(r) for r in ra]
    rb = readings(world.device, 3, ws + 3600, [999_999, 5])
    rc = readings(world.device, 5, we, [42])  # the next month's first batch
    b1 = world.anchor(world.report(ws, ws + 3600, ra, sigs=sa))
    b2 = world.anchor(world.report(ws + 3600, ws + 7200, rb), ("oracle3", "oracle1", "oracle4"))
    world.anchor(world.report(we, we + 1800, rc), ("oracle1", "oracle2", "oracle3", "oracle4"))
    assert (b1, b2) == (1, 2)
    assert an.deviceBatchCount(world.device).call() == 3
    assert an.batchIdByStart(world.device, ws + 3600).call() == 2

    wh1 = (sum(1800 * w for w in [1_234_567, 2_000_001]) + 1800) // 3600
    wh2 = (sum(1800 * w for w in [999_999, 5]) + 1800) // 3600
    assert an.sumWh(world.device, 0, 1, ws, we).call() == [wh1 + wh2, 2, 4]

    # one reading proven against its batch; tampered value or wrong batch refused
    assert an.verifyReading(b1, ra[0], sa[0], [leaf(ra[1], sa[1])]).call() is True
    tampered = ra[0][:5] + (ra[0][5] + 1,) + ra[0][6:]
    assert an.verifyReading(b1, tampered, sa[0], [leaf(ra[1], sa[1])]).call() is False
    assert an.verifyReading(b2, ra[0], sa[0], [leaf(ra[1], sa[1])]).call() is False
    assert an.verifyReading(b1, ra[0], sa[1], [leaf(ra[1], sa[1])]).call() is False  # another reading's signature

    evidence = keccak(text="invoice 2024-03")
    assert world.revert(em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 1, 1, evidence, 0), "enterprise") == (
        "MissingDays", (world.device, YEAR, MONTH, ALL_MARCH))               # day 1 only in part, days 2–31 absent
    _declare_gap(world)
    rcpt = world.tx(
        em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 1, 1, evidence, 0), "enterprise"
    )
    ev = (
        world.c["EmissionsRegistry"]
        .events.ActivityRecorded()
        .process_receipt(rcpt, errors=DISCARD)[0]
        .args
    )
    assert ev.period == 202403 and ev.activityAmount == wh1 + wh2 + SUBSTITUTE_WH
    rec = em.record(1).call()
    names = [o["name"] for o in em.record.abi["outputs"][0]["components"]]
    r = dict(zip(names, rec, strict=True))
    assert r["enterprise"] == world.ent_org and r["activityType"] == 1 and r["source"] == 1
    assert (r["periodStart"], r["periodEnd"]) == (ws, we)
    assert r["activityAmount"] == wh1 + wh2 + SUBSTITUTE_WH and r["batches"] == 2 and r["readings"] == 4
    assert em.recordGap(1).call() == (ALL_MARCH, wh1 + wh2, SUBSTITUTE_WH)
    assert r["factorValue"] == GRID_EF_SCALED
    assert r["emissionsKg"] == emissions_kg(wh1 + wh2 + SUBSTITUTE_WH, GRID_EF_SCALED) > 0
    assert r["status"] == 1 and r["evidenceHash"] == evidence
    assert em.currentRecord(world.ent_org, 1, world.device, YEAR, MONTH).call() == 1

    world.tx(em.submit(1), "enterprise")
    world.tx(em.assignVerifier(1, world.a["verifier"].address), "regulator")
    world.tx(em.attest(1, keccak(text="verification report"), ZERO32), "verifier")
    rcpt = world.tx(em.confirm(1), "regulator")
    confirmed = (
        world.c["EmissionsRegistry"]
        .events.RecordConfirmed()
        .process_receipt(rcpt, errors=DISCARD)[0]
        .args
    )
    assert confirmed.emissionsKg == r["emissionsKg"]
    assert em.record(1).call()[names.index("status")] == 5


def test_contract_digests_match_eth_account_typed_data(world: World) -> None:
    an = world.c["MeterDataAnchor"].functions
    reading = (world.device, 2**64 - 1, 1, 2**63, 1, -(2**63), -128, 2**32 - 1)
    msg = {
        "types": {"EIP712Domain": EIP712_DOMAIN, "Reading": READING_FIELDS},
        "primaryType": "Reading",
        "domain": world.domain(),
        "message": dict(zip([f["name"] for f in READING_FIELDS], reading, strict=True)),
    }
    signable = encode_typed_data(full_message=msg)
    expected = keccak(b"\x19\x01" + signable.header + signable.body)
    assert bytes(an.readingDigest(reading).call()) == expected
    assert bytes(an.readingLeaf(reading, keccak(b"\x07" * 65)).call()) == leaf(reading, b"\x07" * 65)

    rep = world.report(100, 200, readings(world.device, 1, 100, [7], step=100))
    msg = {
        "types": {"EIP712Domain": EIP712_DOMAIN, "BatchReport": REPORT_FIELDS},
        "primaryType": "BatchReport",
        "domain": world.domain(),
        "message": dict(zip([f["name"] for f in REPORT_FIELDS], rep, strict=True)),
    }
    signable = encode_typed_data(full_message=msg)
    assert bytes(an.reportDigest(rep).call()) == keccak(
        b"\x19\x01" + signable.header + signable.body
    )
    chain_id = world.w3.eth.chain_id
    oracles = [world.a[f"oracle{i}"].address for i in (1, 2, 3, 4)]
    assert bytes(an.configDigest().call()) == keccak(
        abi_encode(
            ["uint256", "address", "uint64", "bytes32", "address[]", "uint8"],
            [chain_id, world.c["MeterDataAnchor"].address, 1, keccak(text="salt"), oracles, 1],
        )
    )


@pytest.mark.parametrize(
    "offset", [8 * 3600, 3600, 0, -5 * 3600, 14 * 3600, -14 * 3600, 5 * 3600 + 2700]
)
def test_month_window_matches_python_calendar(world: World, offset: int) -> None:
    pr = world.c["ParticipantRegistry"].functions
    org = keccak(text=f"tz {offset}")
    world.tx(
        pr.admit(
            org,
            pr.ENTERPRISE_ROLE().call(),
            _b32("91440300MA5TZ0000X"),
            offset,
            world.a["outsider"].address,
            "tz",
        ),
        "regulator",
    )
    em = world.c["EmissionsRegistry"].functions
    for year, month in [
        (1971, 1),
        (2000, 2),
        (2024, 2),
        (2024, 12),
        (2100, 2),
        (2400, 2),
        (9999, 11),
    ]:
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        expected = [
            _month_start(year, month, offset),
            int(datetime(ny, nm, 1, tzinfo=UTC).timestamp()) - offset,
        ]
        assert em.monthWindow(org, year, month).call() == expected, (year, month)


def test_emissions_formula_matches_python_mirror(world: World) -> None:
    em = world.c["EmissionsRegistry"].functions
    for wh, ef in [
        (0, 5703),
        (1, 5703),
        (876, 5703),
        (877, 5703),
        (10**12, 5703),
        (4_999_999, 1),
        (5_000_000, 1),
    ]:
        assert em.emissionsKg(wh, ef).call() == emissions_kg(wh, ef)


# ------------------------------------------------------------------------ refusals


def test_anchor_refuses_fewer_signatures_than_quorum(world: World) -> None:
    rep = world.report(1000, 2800, readings(world.device, 1, 1000, [5]))
    name, args = world.revert(
        world.c["MeterDataAnchor"].functions.anchor(rep, world.sign(rep, "oracle1")), "oracle1"
    )
    assert (name, args) == ("QuorumNotReached", (1, 3))


def test_anchor_refuses_duplicate_and_unknown_signers(world: World) -> None:
    an = world.c["MeterDataAnchor"].functions
    rep = world.report(1000, 2800, readings(world.device, 1, 1000, [5]))
    dup = world.sign(rep, "oracle1", "oracle2", "oracle1")
    assert world.revert(an.anchor(rep, dup), "oracle2") == (
        "DuplicateSigner",
        (world.a["oracle1"].address,),
    )
    outsider = world.sign(rep, "oracle1", "oracle2", "outsider")
    assert world.revert(an.anchor(rep, outsider), "oracle2") == (
        "UnknownSigner",
        (world.a["outsider"].address,),
    )


def test_anchor_refuses_non_oracle_submitter(world: World) -> None:
    rep = world.report(1000, 2800, readings(world.device, 1, 1000, [5]))
    fn = world.c["MeterDataAnchor"].functions.anchor(rep, world.sign(rep, "oracle1", "oracle2", "oracle3"))
    assert world.revert(fn, "enterprise") == ("NotOracle", (world.a["enterprise"].address,))


def test_anchor_refuses_overlapping_period(world: World) -> None:
    world.anchor(world.report(1000, 4600, readings(world.device, 1, 1000, [5, 6])))
    rep = world.report(4000, 5800, readings(world.device, 3, 4000, [5]))
    fn = world.c["MeterDataAnchor"].functions.anchor(rep, world.sign(rep, "oracle1", "oracle2", "oracle3"))
    assert world.revert(fn, "oracle1") == ("PeriodOverlaps", (world.device, 4000, 5800, 1))


def test_anchor_refuses_report_signed_for_previous_oracle_set(world: World) -> None:
    an = world.c["MeterDataAnchor"].functions
    rep = world.report(1000, 2800, readings(world.device, 1, 1000, [5]))
    sigs = world.sign(rep, "oracle1", "oracle2", "oracle3")
    world.tx(an.setOracles([world.a[f"oracle{i}"].address for i in (4, 3, 2, 1)], 1), "regulator")
    name, args = world.revert(an.anchor(rep, sigs), "oracle1")
    assert name == "StaleConfigDigest" and args == (rep[0], bytes(an.configDigest().call()))


def test_anchor_refuses_device_out_of_calibration(world: World) -> None:
    start = (
        2_000_000_000 - 100
    )  # calibrated until 2_000_000_000 inclusive; but the future is refused first
    # a new certificate from second 3000 cuts the first one at 2999: [2000, 3800) lies in no one calibration
    world.tx(
        world.c["DeviceRegistry"].functions.recordCalibration(
            world.device, 3000, 2_000_000_000, keccak(text="c2")
        ),
        "calibration",
    )
    rep = world.report(2000, 3800, readings(world.device, 1, 2000, [5]))
    fn = world.c["MeterDataAnchor"].functions.anchor(rep, world.sign(rep, "oracle1", "oracle2", "oracle3"))
    assert world.revert(fn, "oracle1") == ("DeviceNotUsable", (world.device, 4))
    rep = world.report(start, start + 1800, readings(world.device, 1, start, [5]))
    fn = world.c["MeterDataAnchor"].functions.anchor(rep, world.sign(rep, "oracle1", "oracle2", "oracle3"))
    assert world.revert(fn, "oracle1")[0] == "PeriodInFuture"


def test_set_oracles_refuses_sets_below_3f_plus_1(world: World) -> None:
    oracles = [world.a[f"oracle{i}"].address for i in (1, 2, 3, 4)]
    fn = world.c["MeterDataAnchor"].functions.setOracles(oracles[:3], 1)
    assert world.revert(fn, "regulator") == ("InvalidFaultTolerance", (1, 3))
    fn = world.c["MeterDataAnchor"].functions.setOracles(
        [*oracles[:3], world.a["verifier"].address], 1
    )
    assert world.revert(fn, "regulator") == ("OracleNotActive", (world.a["verifier"].address,))


def test_supersede_replaces_batch_in_sums_and_keeps_the_old_one(world: World) -> None:
    an = world.c["MeterDataAnchor"].functions
    ws = _month_start(YEAR, MONTH, BEIJING)
    we = _month_start(YEAR, MONTH + 1, BEIJING)
    b1 = world.anchor(world.report(ws, ws + 3600, readings(world.device, 1, ws, [1000, 1000])))
    fixed = world.report(ws, ws + 3600, readings(world.device, 1, ws, [1000, 3000]), supersedes=b1)
    reason = keccak(text="meter CT ratio corrected")
    rcpt = world.tx(
        an.supersede(b1, fixed, world.sign(fixed, "oracle2", "oracle3", "oracle4"), reason), "oracle2"
    )
    ev = (
        world.c["MeterDataAnchor"]
        .events.BatchSuperseded()
        .process_receipt(rcpt, errors=DISCARD)[0]
        .args
    )
    assert (ev.oldBatchId, ev.newBatchId, ev.reasonHash) == (1, 2, reason)
    assert an.currentBatch(1).call() == 2 and an.deviceBatchCount(world.device).call() == 1
    assert an.batch(1).call()[-1] == 2 and an.batch(2).call()[-2] == 1
    assert an.sumWh(world.device, 0, 0, ws, we).call() == [2000, 1, 2]
    again = world.report(ws, ws + 3600, readings(world.device, 1, ws, [1, 1]), supersedes=b1)
    fn = an.supersede(b1, again, world.sign(again, "oracle1", "oracle2", "oracle3"), reason)
    assert world.revert(fn, "oracle1") == ("AlreadySuperseded", (1, 2))


def test_sum_refuses_ranges_that_miss_or_overrun_the_month(world: World) -> None:
    an = world.c["MeterDataAnchor"].functions
    ws = _month_start(YEAR, MONTH, BEIJING)
    we = _month_start(YEAR, MONTH + 1, BEIJING)
    world.anchor(world.report(ws, ws + 1800, readings(world.device, 1, ws, [10])))
    world.anchor(world.report(ws + 1800, ws + 3600, readings(world.device, 2, ws + 1800, [10])))
    world.anchor(world.report(we, we + 1800, readings(world.device, 3, we, [10])))
    assert world.revert(an.sumWh(world.device, 0, 0, ws, we), "enterprise") == (
        "IncompleteBatchRange",
        (world.device, 0, 0),
    )
    assert world.revert(an.sumWh(world.device, 0, 2, ws, we), "enterprise") == (
        "BatchOutsideWindow",
        (3,),
    )
    em = world.c["EmissionsRegistry"].functions
    fn = em.recordPurchasedElectricity(world.device, YEAR, MONTH, 1, 1, 1, ZERO32, 0)
    assert world.revert(fn, "enterprise")[0] == "IncompleteBatchRange"


def test_record_refuses_foreign_device_and_inapplicable_factor_set(world: World) -> None:
    ws = _month_start(YEAR, MONTH, BEIJING)
    world.anchor(world.report(ws, ws + 1800, readings(world.device, 1, ws, [10])))
    em = world.c["EmissionsRegistry"].functions
    fn = em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 0, 1, ZERO32, 0)
    assert world.revert(fn, "enterprise2") == (
        "DeviceNotOwned",
        (world.device, keccak(text="org enterprise2")),
    )
    fn = em.recordPurchasedElectricity(world.device, 2022, MONTH, 0, 0, 1, ZERO32, 0)
    assert world.revert(fn, "enterprise") == ("FactorSetNotApplicable", (1, 2022))
    fn = em.recordPurchasedElectricity(world.device, YEAR, 13, 0, 0, 1, ZERO32, 0)
    assert world.revert(fn, "enterprise") == ("InvalidPeriod", (YEAR, 13))


def test_rejected_record_is_amended_by_a_linked_new_record(world: World) -> None:
    ws = _month_start(YEAR, MONTH, BEIJING)
    world.anchor(world.report(ws, ws + 1800, readings(world.device, 1, ws, [10_000])))
    em = world.c["EmissionsRegistry"].functions
    _declare_gap(world)
    world.tx(
        em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 0, 1, ZERO32, 0), "enterprise"
    )
    fn = em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 0, 1, ZERO32, 0)
    assert world.revert(fn, "enterprise") == ("RecordExists", (1, 0))
    world.tx(em.submit(1), "enterprise")
    world.tx(em.assignVerifier(1, world.a["verifier"].address), "regulator")
    fn = em.attest(1, keccak(text="r"), ZERO32)
    assert world.revert(fn, "outsider") == ("NotAssignedVerifier", (1, world.a["outsider"].address))
    world.tx(em.reject(1, keccak(text="r"), keccak(text="meter evidence missing")), "verifier")
    fn = em.confirm(1)
    assert world.revert(fn, "regulator") == ("InvalidStatus", (1, 4, 3))
    world.tx(
        em.recordPurchasedElectricity(world.device, YEAR, MONTH, 0, 0, 1, keccak(text="ev"), 1),
        "enterprise",
    )
    assert em.record(1).call()[20] == 2 and em.record(2).call()[19] == 1  # amendedBy / amends
    assert em.currentRecord(world.ent_org, 1, world.device, YEAR, MONTH).call() == 2


def test_participant_registry_refuses_direct_role_changes(world: World) -> None:
    pr = world.c["ParticipantRegistry"].functions
    role = pr.REGULATOR_ROLE().call()
    fn: Callable[..., Any]
    for fn in (
        pr.grantRole(role, world.a["outsider"].address),
        pr.revokeRole(role, world.a["regulator"].address),
        pr.renounceRole(role, world.a["regulator"].address),
    ):
        assert world.revert(fn, "regulator") == ("RoleChangesGoThroughAdmission", ())


def test_suspended_enterprise_loses_its_role_until_reinstated(world: World) -> None:
    pr = world.c["ParticipantRegistry"].functions
    ent = world.a["enterprise"].address
    role = pr.ENTERPRISE_ROLE().call()
    world.tx(pr.suspend(world.ent_org, keccak(text="decision")), "regulator")
    assert pr.isActive(ent, role).call() is False and pr.hasRole(role, ent).call() is False
    assert world.c["DeviceRegistry"].functions.isUsable(world.device, 1000).call() is False
    world.tx(pr.reinstate(world.ent_org), "regulator")
    assert pr.isActive(ent, role).call() is True and pr.hasRole(role, ent).call() is True
    own = pr.suspend(keccak(text="org regulator"), ZERO32)
    assert world.revert(own, "regulator") == (
        "CannotSanctionOwnOrganisation",
        (keccak(text="org regulator"),),
    )


def test_admit_refuses_malformed_uscc_and_bound_account(world: World) -> None:
    pr = world.c["ParticipantRegistry"].functions
    role = pr.VERIFIER_ROLE().call()
    fn = pr.admit(
        keccak(text="x"),
        role,
        _b32("91110000ma01abcd1x"),
        BEIJING,
        world.a["outsider"].address,
        "x",
    )
    assert world.revert(fn, "regulator") == ("InvalidUscc", ())
    fn = pr.admit(
        keccak(text="x"),
        role,
        _b32("91110000MA01ABCD1X"),
        BEIJING,
        world.a["verifier"].address,
        "x",
    )
    assert world.revert(fn, "regulator") == (
        "AccountAlreadyBound",
        (world.a["verifier"].address, keccak(text="org verifier")),
    )
    fn = pr.admit(
        keccak(text="x"),
        role,
        _b32("91110000MA01ABCD1X"),
        15 * 3600,
        world.a["outsider"].address,
        "x",
    )
    assert world.revert(fn, "regulator") == ("InvalidUtcOffset", (15 * 3600,))
    fn = pr.admit(
        keccak(text="x"),
        role,
        _b32("91110000MA01ABCD1X"),
        BEIJING,
        world.a["outsider"].address,
        "x",
    )
    assert world.revert(fn, "enterprise") == ("NotRegulator", (world.a["enterprise"].address,))
