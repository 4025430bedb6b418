"""CarbonAssets, CCERRegistry, CashToken and Settlement on a real Anvil node: access control on
every mutating function, freeze and pause, serial ranges (overlap, split, replay of a real
retirement file), the supply invariant under random operation sequences, and delivery versus
payment settlement (double settlement, bad trades in atomic and skip mode, fees)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.assets import cea_id, ccer_id
from ledger.chain import Call, ContractRevert, TxResult
from ledger.crypto import keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.market import (
    NO_SERIALS,
    Reason,
    RetirementRequest,
    SerialBook,
    SerialRange,
    SerialsRefused,
    Trade,
    deploy_assets,
    deploy_market,
    parse_serial_range,
    trade_id,
)
from tests.conftest import ROOT, World

def shared_data(rel: str):
    """Path of a file in the shared data directory beside the clone (``../shared/data``) or, for a
    git worktree under ``wt/``, beside the main checkout (``../../shared/data``); else skip."""
    for base in (ROOT.parent, ROOT.parent.parent):
        p = base / "shared" / "data" / rel
        if p.exists():
            return p
    pytest.skip(f"shared/data/{rel} is absent beside the clone (CI places ../shared beside it)")

NEW_ORGS = {  # name: (USCC, role)
    "exchange": (make_uscc("9", "1", "310101", "MA08EX01"), "EXCHANGE_ROLE"),
    "registry": (make_uscc("1", "2", "110102", "MB09RG01"), "REGISTRY_ROLE"),
    "bank": (make_uscc("9", "1", "110102", "MA10BK01"), "SETTLEMENT_BANK_ROLE"),
    "owner": (make_uscc("9", "1", "620102", "MA11PW01"), "PROJECT_OWNER_ROLE"),
}
PROJECT = 1001
VINTAGE = 2021
CEA = cea_id(2021)
CCER = ccer_id(VINTAGE, PROJECT)
BENEFICIARY, PURPOSE = "Seattle City Light", "Environmental Benefit"


@dataclass
class Market:
    """The world plus the asset and market contracts and the new participants."""

    w: World
    assets: Any
    registry: Any
    cash: Any
    settlement: Any
    acct: dict[str, str]
    bank_refs: int = 0
    roles: dict[str, bytes] = field(default_factory=dict)

    @property
    def client(self):
        return self.w.client

    def tx(self, fn: Any, who: str) -> TxResult:
        return self.client.send([Call.of(fn, self.acct[who])])[0]

    def call(self, fn: Any) -> Any:
        return self.client.call(fn)

    def refused(self, fn: Any, who: str, error: str | None) -> ContractRevert:
        """Assert ``who`` calling ``fn`` is refused (pre-flight) with custom error ``error``."""
        with pytest.raises(ContractRevert) as exc:
            self.client.preflight([Call.of(fn, self.acct[who])])
        if error is not None:
            assert exc.value.error == error, (getattr(fn, "fn_name", fn), exc.value)
        return exc.value

    def bal(self, who: str, token_id: int) -> int:
        return self.call(self.assets.functions.balanceOf(self.acct[who], token_id))

    def cash_of(self, who: str) -> int:
        return self.call(self.cash.functions.balanceOf(self.acct[who]))

    def supply(self, token_id: int) -> dict[str, int]:
        s = self.call(self.assets.functions.supplyOf(token_id))
        out = dict(zip(("issued", "retired", "surrendered", "cancelled", "clawedBack"), s))
        out["holdings"] = self.call(self.assets.functions.totalSupply(token_id))
        return out

    def deposit(self, who: str, fen: int) -> None:
        self.bank_refs += 1
        self.tx(self.cash.functions.deposit(self.acct[who], fen, keccak256(f"bank-ref-{self.bank_refs}".encode())), "bank")

    def issue_cea(self, who: str, amount: int, vintage: int = 2021) -> None:
        self.tx(self.assets.functions.issue(self.acct[who], cea_id(vintage), amount, keccak256(b"alloc")), "issuer")

    def issue_batch(self, amount: int, serials: SerialRange = NO_SERIALS, project: int = PROJECT,
                    vintage: int = VINTAGE) -> int:
        r = self.tx(self.registry.functions.issueBatch(project, vintage, amount, serials.prefix, serials.start,
                                                       serials.end, keccak256(b"issuance")), "registry")
        return self.client.decode_events(self.registry, "BatchIssued", r)[0]["batchId"]

    def retire(self, req: RetirementRequest, who: str = "registry") -> dict[str, Any]:
        r = self.tx(self.registry.functions.retire(req.as_tuple()), who)
        ev = self.client.decode_events(self.registry, "RetirementCertified", r)[0]
        ev["gas"] = r.gas_used
        return ev


@pytest.fixture(scope="module")
def market(world: World, artifacts: dict[str, Any]) -> Iterator[Market]:
    """Deploy CarbonAssets and the market on top of the world, admit an exchange, a registry, a
    settlement bank and a project owner, grant a test EOA ("issuer") CEA_ISSUER_ROLE and
    COMPLIANCE_ROLE, register project 1001; reverted when the module ends."""
    client = world.client
    snap = client.rpc("evm_snapshot")
    acct = dict(world.acct)
    for name in [*NEW_ORGS, "issuer"]:
        acct[name] = client.add_account(new_private_key())
    client.fund_on_dev_chain([acct[n] for n in [*NEW_ORGS, "issuer"]])
    dep, reg = world.dep, acct["regulator"]
    client.send([Call.of(dep.participants.functions.admit(org_id(u), dep.role(role), uscc_bytes32(u), 28800, acct[n], f"test {n}"), reg)
                 for n, (u, role) in NEW_ORGS.items()])
    assets_addr = deploy_assets(client, artifacts, reg, dep.participants.address)
    addrs = deploy_market(client, artifacts, reg, dep.participants.address, assets_addr)
    arts = artifacts
    c = lambda name, a: client.w3.eth.contract(address=a, abi=arts[name].abi)  # noqa: E731
    m = Market(world, c("CarbonAssets", assets_addr), c("CCERRegistry", addrs["CCERRegistry"]),
               c("CashToken", addrs["CashToken"]), c("Settlement", addrs["Settlement"]), acct)
    for role in ("CEA_ISSUER_ROLE", "CCER_ISSUER_ROLE", "COMPLIANCE_ROLE", "SETTLEMENT_ROLE"):
        m.roles[role] = bytes(m.call(getattr(m.assets.functions, role)()))
    client.send([Call.of(m.assets.functions.grantOperator(m.roles["CEA_ISSUER_ROLE"], acct["issuer"]), reg),
                 Call.of(m.assets.functions.grantOperator(m.roles["COMPLIANCE_ROLE"], acct["issuer"]), reg)])
    m.tx(m.registry.functions.registerProject(PROJECT, acct["owner"], keccak256(b"CCER-14-001-V01"), b"620000".ljust(32, b"\0"),
                                              1_700_000_000, 1_600_761_600, "Gansu wind farm"), "registry")
    yield m
    client.rpc("evm_revert", snap)
    client.rewind()


@pytest.fixture()
def m(market: Market, chain: World) -> Market:
    """The market, reverted after the test (the ``chain`` fixture's snapshot)."""
    market.bank_refs = 0
    return market


def serials(text: str) -> SerialRange:
    return parse_serial_range(text)


# ============================================================================ serial strings
def test_parse_serial_range_reads_real_acr_and_car_strings() -> None:
    assert parse_serial_range("ACR-US-102-2003-274-120158095 to 120158156") == SerialRange("ACR-US-102-2003-274-", 120158095, 120158156)
    r = parse_serial_range("CAR-1-US-1008-27-845-WA-2015-2010-1 to 8645")
    assert (r.prefix, r.start, r.end, r.count) == ("CAR-1-US-1008-27-845-WA-2015-2010-", 1, 8645, 8645)
    assert str(r) == "CAR-1-US-1008-27-845-WA-2015-2010-1 to 8645"


@pytest.mark.parametrize("bad", ["", "ACR-1-5", "ACR-1-5 to", "12 to 20", "ACR-0 to 5", "ACR-9 to 5", "ACR-5 to x",
                                 f"ACR-1 to {2**64 - 1}"])
def test_parse_serial_range_refuses_bad_text(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_serial_range(bad)


def test_parse_serial_range_matches_every_row_of_the_real_retirement_files() -> None:
    for name in ("ACR_retirements.csv", "CAR_retirements.csv"):
        with open(shared_data(f"offsets_registry/{name}"), encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                r = parse_serial_range(row["Offset Credit Serial Numbers"])
                assert r.count == int(row["Quantity of Offset Credits"].replace(",", "")), row


# ============================================================================ CCERRegistry
def test_register_project_records_dates_and_owner(m: Market) -> None:
    reg = m.registry.functions
    registered, at, start, owner = m.call(reg.projectDates(PROJECT))
    assert (registered, at, start, owner.lower()) == (True, 1_700_000_000, 1_600_761_600, m.acct["owner"].lower())
    assert tuple(m.call(reg.projectDates(7)))[:3] == (False, 0, 0)
    p = m.call(reg.project(PROJECT))
    assert p[0].lower() == m.acct["owner"].lower() and bytes(p[3]) == keccak256(b"CCER-14-001-V01")


def test_register_project_refuses_bad_input(m: Market) -> None:
    reg, o = m.registry.functions, m.acct["owner"]
    m.refused(reg.registerProject(0, o, bytes(32), bytes(32), 0, 0, "x"), "registry", "InvalidProject")
    m.refused(reg.registerProject(PROJECT, o, bytes(32), bytes(32), 0, 0, "x"), "registry", "ProjectExists")
    m.refused(reg.registerProject(2, m.acct["outsider"], bytes(32), bytes(32), 0, 0, "x"), "registry", "NotAdmitted")
    m.refused(reg.registerProject(2, o, bytes(32), bytes(32), 0, 0, ""), "registry", "MissingText")
    m.refused(reg.registerProject(2, o, bytes(32), bytes(32), 0, 0, "x"), "owner", "NotRegistry")


def test_issue_batch_with_serials_mints_to_the_owner_and_records_the_range(m: Market) -> None:
    s = serials("CCER-CN-1001-2021-1 to 5000")
    b = m.issue_batch(5000, s)
    assert b == 1 and m.call(m.registry.functions.batchCount()) == 1
    assert m.bal("owner", CCER) == 5000
    batch = m.call(m.registry.functions.batch(b))
    assert tuple(batch[:7]) == (PROJECT, VINTAGE, 5000, 0, 1, 5000, 1)
    assert bytes(batch[8]) == s.prefix_hash
    assert m.supply(CCER)["issued"] == 5000
    assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == (1, 5000)


def test_issue_batch_refuses_overlapping_or_repeated_serial_ranges(m: Market) -> None:
    reg = m.registry.functions
    p = "CCER-CN-1001-2021-"
    m.issue_batch(100, SerialRange(p, 101, 200))
    for start, end in [(101, 200), (150, 249), (51, 101), (200, 200), (1, 1000)]:
        e = m.refused(reg.issueBatch(PROJECT, VINTAGE, end - start + 1, p, start, end, bytes(32)), "registry", "SerialsAlreadyIssued")
        assert e.args_[3:] == (101, 200)
    m.issue_batch(100, SerialRange(p, 1, 100))       # adjacent below
    m.issue_batch(100, SerialRange(p, 201, 300))     # adjacent above
    m.issue_batch(100, SerialRange("OTHER-", 101, 200))  # same numbers, other block
    assert m.supply(CCER)["issued"] == 400


def test_issue_batch_refuses_bad_input(m: Market) -> None:
    reg = m.registry.functions
    m.refused(reg.issueBatch(99, VINTAGE, 10, "", 0, 0, bytes(32)), "registry", "UnknownProject")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 0, "", 0, 0, bytes(32)), "registry", "InvalidAmount")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 2**64, "", 0, 0, bytes(32)), "registry", "InvalidAmount")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "P-", 1, 9, bytes(32)), "registry", "SerialCountMismatch")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "P-", 0, 9, bytes(32)), "registry", "InvalidSerialRange")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "P-", 10, 1, bytes(32)), "registry", "InvalidSerialRange")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 1, "P-", 2**64 - 1, 2**64 - 1, bytes(32)), "registry", "InvalidSerialRange")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "", 1, 10, bytes(32)), "registry", "InvalidSerialRange")
    m.refused(reg.issueBatch(PROJECT, 0, 10, "", 0, 0, bytes(32)), "registry", "MalformedAssetId")
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "", 0, 0, bytes(32)), "owner", "NotRegistry")


def test_partial_retirement_splits_the_range_and_records_the_exact_serials(m: Market) -> None:
    p = "CCER-CN-1001-2021-"
    b = m.issue_batch(100, SerialRange(p, 1001, 1100))
    c1 = m.retire(RetirementRequest(m.acct["owner"], b, 30, BENEFICIARY, PURPOSE, "Q1"), who="owner")
    assert (c1["certificateId"], c1["cert"]["serialStart"], c1["cert"]["serialEnd"]) == (1, 1001, 1030)
    assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == (1031, 1100)
    # an explicit range in the middle splits the free run in two
    c2 = m.retire(RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, serials=SerialRange(p, 1050, 1059)))
    assert (c2["cert"]["serialStart"], c2["cert"]["serialEnd"]) == (1050, 1059)
    assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == (1031, 1049)
    e = m.refused(m.registry.functions.retire(RetirementRequest(m.acct["owner"], b, 30, BENEFICIARY, PURPOSE).as_tuple()),
                  "registry", "SerialsFragmented")
    assert e.args_[1:] == (1031, 1049, 30)
    c3 = m.retire(RetirementRequest(m.acct["owner"], b, 19, BENEFICIARY, PURPOSE))
    assert (c3["cert"]["serialStart"], c3["cert"]["serialEnd"]) == (1031, 1049)
    # the cursor jumps over the explicit range
    assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == (1060, 1100)
    for start, end in [(1055, 1065), (1001, 1001), (1030, 1031), (1049, 1050)]:
        req = RetirementRequest(m.acct["owner"], b, end - start + 1, BENEFICIARY, PURPOSE, serials=SerialRange(p, start, end))
        m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialsAlreadyRetired")
    for bad in [SerialRange(p, 1095, 1104), SerialRange("OTHER-", 1090, 1099), SerialRange(p, 990, 999)]:
        req = RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, serials=bad)
        m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialsOutsideBatch")
    c4 = m.retire(RetirementRequest(m.acct["owner"], b, 41, BENEFICIARY, PURPOSE))
    assert (c4["cert"]["serialStart"], c4["cert"]["serialEnd"]) == (1060, 1100)
    assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == (0, 0)
    m.refused(m.registry.functions.retire(RetirementRequest(m.acct["owner"], b, 1, BENEFICIARY, PURPOSE).as_tuple()),
              "registry", "BatchExhausted")
    assert m.supply(CCER)["retired"] == 100 and m.bal("owner", CCER) == 0
    assert m.call(m.registry.functions.certificateCount()) == 4


def test_certificate_records_holder_amount_serials_beneficiary_purpose_and_reason(m: Market) -> None:
    p = "CCER-CN-1001-2021-"
    b = m.issue_batch(50, SerialRange(p, 1, 50))
    ev = m.retire(RetirementRequest(m.acct["owner"], b, 7, BENEFICIARY, PURPOSE, "Applied to EY 2017"))
    cert, asset = m.call(m.registry.functions.certificate(ev["certificateId"]))
    assert asset == CCER == ev["assetId"]
    assert cert[0].lower() == m.acct["owner"].lower() == ev["holder"].lower()
    assert tuple(cert[2:6]) == (b, 7, 1, 7)
    assert bytes(cert[6]) == keccak256(p.encode())
    assert tuple(cert[7:]) == (BENEFICIARY, PURPOSE, "Applied to EY 2017")
    assert ev["by"].lower() == m.acct["registry"].lower()
    m.refused(m.registry.functions.certificate(0), "registry", "UnknownCertificate")
    m.refused(m.registry.functions.certificate(2), "registry", "UnknownCertificate")


def test_batch_without_serials_checks_explicit_ranges_against_earlier_retirements_only(m: Market) -> None:
    b = m.issue_batch(1000)
    owner = m.acct["owner"]
    ev = m.retire(RetirementRequest(owner, b, 10, BENEFICIARY, PURPOSE))  # by amount: no serials
    assert (ev["cert"]["serialPrefix"], ev["cert"]["serialStart"], ev["cert"]["serialEnd"]) == (bytes(32), 0, 0)
    p = "ACR-US-102-2003-274-"
    m.retire(RetirementRequest(owner, b, 62, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158095 to 120158156")))
    m.retire(RetirementRequest(owner, b, 16, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158079 to 120158094")))
    req = RetirementRequest(owner, b, 62, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158095 to 120158156"))
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialsAlreadyRetired")  # a repeated row
    req = RetirementRequest(owner, b, 2, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158094 to 120158095"))
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialsAlreadyRetired")
    req = RetirementRequest(owner, b, 5, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158095 to 120158100"))
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialCountMismatch")
    # serials of a block issued on-chain cannot be claimed by a batch without serials
    m.issue_batch(10, SerialRange("CCER-X-", 1, 10))
    req = RetirementRequest(owner, b, 1, BENEFICIARY, PURPOSE, serials=SerialRange("CCER-X-", 5, 5))
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "SerialsAlreadyIssued")
    req = RetirementRequest(owner, b, 1000 - 88 + 1, BENEFICIARY, PURPOSE)
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "BatchExhausted")
    assert m.call(m.registry.functions.batch(b))[3] == 88


def test_serials_retired_under_a_batch_without_serials_cannot_be_issued_again(m: Market) -> None:
    b = m.issue_batch(100)
    m.retire(RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, serials=SerialRange("BLK-", 11, 20)))
    m.refused(m.registry.functions.issueBatch(PROJECT, VINTAGE, 10, "BLK-", 15, 24, bytes(32)), "registry", "SerialsAlreadyRetired")
    m.issue_batch(10, SerialRange("BLK-", 21, 30))


def test_retire_is_open_to_the_holder_and_to_the_registry_only(m: Market) -> None:
    b = m.issue_batch(100)
    owner = m.acct["owner"]
    m.retire(RetirementRequest(owner, b, 1, BENEFICIARY, PURPOSE), who="owner")
    m.retire(RetirementRequest(owner, b, 1, BENEFICIARY, PURPOSE), who="registry")
    for who in ("outsider", "enterprise", "exchange"):
        m.refused(m.registry.functions.retire(RetirementRequest(owner, b, 1, BENEFICIARY, PURPOSE).as_tuple()), who, "NotHolderOrRegistry")
    # an outsider retiring "its own" holding is refused as not admitted
    m.refused(m.registry.functions.retire(RetirementRequest(m.acct["outsider"], b, 1, BENEFICIARY, PURPOSE).as_tuple()),
              "outsider", "NotAdmitted")


def test_retire_refuses_bad_input(m: Market) -> None:
    b = m.issue_batch(100)
    o = m.acct["owner"]
    cases = [
        (RetirementRequest(o, 0, 1, BENEFICIARY, PURPOSE), "UnknownBatch"),
        (RetirementRequest(o, 9, 1, BENEFICIARY, PURPOSE), "UnknownBatch"),
        (RetirementRequest(o, b, 0, BENEFICIARY, PURPOSE), "InvalidAmount"),
        (RetirementRequest(o, b, 1, "", PURPOSE), "MissingText"),
        (RetirementRequest(o, b, 1, BENEFICIARY, ""), "MissingText"),
        (RetirementRequest(o, b, 101, BENEFICIARY, PURPOSE), "BatchExhausted"),
        (RetirementRequest(o, b, 1, BENEFICIARY, PURPOSE, serials=SerialRange("", 1, 1)), "InvalidSerialRange"),
        (RetirementRequest(o, b, 1, BENEFICIARY, PURPOSE, serials=SerialRange("P-", 0, 0)), "InvalidSerialRange"),
        (RetirementRequest(m.acct["enterprise"], b, 1, BENEFICIARY, PURPOSE), "ERC1155InsufficientBalance"),
    ]
    for req, error in cases:
        m.refused(m.registry.functions.retire(req.as_tuple()), "registry", error)


def test_frozen_holder_cannot_retire_and_pause_stops_retirement(m: Market) -> None:
    b = m.issue_batch(100)
    req = RetirementRequest(m.acct["owner"], b, 1, BENEFICIARY, PURPOSE).as_tuple()
    m.tx(m.assets.functions.freeze(m.acct["owner"], "enforcement decision 1"), "regulator")
    m.refused(m.registry.functions.retire(req), "owner", "AccountIsFrozen")
    m.tx(m.assets.functions.unfreeze(m.acct["owner"], "lifted"), "regulator")
    m.tx(m.assets.functions.pause(), "regulator")
    m.refused(m.registry.functions.retire(req), "owner", "EnforcedPause")
    m.tx(m.assets.functions.unpause(), "regulator")
    m.retire(RetirementRequest(m.acct["owner"], b, 1, BENEFICIARY, PURPOSE), who="owner")


def test_cancel_moves_units_out_into_the_cancelled_bucket(m: Market) -> None:
    m.issue_batch(100)
    reg = m.registry.functions
    r = m.tx(reg.cancel(m.acct["owner"], PROJECT, VINTAGE, 40, keccak256(b"Verra")), "registry")
    ev = m.client.decode_events(m.registry, "CreditsCancelled", r)[0]
    assert (ev["amount"], ev["assetId"], bytes(ev["destination"])) == (40, CCER, keccak256(b"Verra"))
    s = m.supply(CCER)
    assert (s["issued"], s["cancelled"], s["holdings"]) == (100, 40, 60)
    m.refused(reg.cancel(m.acct["owner"], PROJECT, VINTAGE, 40, bytes(32)), "owner", "NotRegistry")
    m.refused(reg.cancel(m.acct["owner"], 77, VINTAGE, 1, bytes(32)), "registry", "UnknownProject")
    m.refused(reg.cancel(m.acct["owner"], PROJECT, VINTAGE, 0, bytes(32)), "registry", "ZeroAmount")
    m.refused(reg.cancel(m.acct["owner"], PROJECT, VINTAGE, 61, bytes(32)), "registry", "ERC1155InsufficientBalance")


_RETIRE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("auto"), st.integers(1, 40)),
        st.tuples(st.just("range"), st.integers(0, 230), st.integers(1, 25)),
    ),
    min_size=5, max_size=15,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_RETIRE_OPS)
def test_serial_allocation_matches_the_python_mirror(m: Market, ops: list[tuple]) -> None:
    """Random mixes of allocated and explicit retirements: the contract's certificates and
    refusals equal SerialBook's, so no serial is ever retired twice or lost."""
    snap = m.client.rpc("evm_snapshot")
    try:
        p = "MIRROR-"
        book = SerialBook()
        b1 = m.issue_batch(100, SerialRange(p, 1, 100))
        b2 = m.issue_batch(100, SerialRange(p, 101, 200))
        book.issue(b1, SerialRange(p, 1, 100), 100)
        book.issue(b2, SerialRange(p, 101, 200), 100)
        for i, op in enumerate(ops):
            batch = b1 if i % 2 == 0 else b2
            if op[0] == "auto":
                rng, amount = NO_SERIALS, op[1]
            else:
                rng, amount = SerialRange(p, op[1] + 1, op[1] + op[2]), op[2]
            req = RetirementRequest(m.acct["owner"], batch, amount, BENEFICIARY, PURPOSE, serials=rng)
            try:
                want = book.retire(batch, amount, rng)
            except SerialsRefused as e:
                m.refused(m.registry.functions.retire(req.as_tuple()), "registry", e.error)
                continue
            got = m.retire(req)["cert"]
            assert (got["serialStart"], got["serialEnd"]) == (want.start, want.end), (op, want)
            for bid in (b1, b2):
                assert tuple(m.call(m.registry.functions.nextFreeRun(bid))) == book.next_free_run(bid)
        s = m.supply(CCER)
        assert s["retired"] == sum(book.retired_count.values())
    finally:
        m.client.rpc("evm_revert", snap)
        m.client.rewind()


_WIDE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("auto"), st.integers(1, 70_000)),
        st.tuples(st.just("range"), st.sampled_from([0, 255, 256, 65_535, 65_536, 69_999, 70_000, 131_072, 199_000]),
                  st.integers(-300, 300), st.integers(1, 700)),
    ),
    min_size=4, max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_WIDE_OPS, queries=st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 2_000)), min_size=5, max_size=5))
def test_serial_ranges_across_byte_boundaries_match_the_python_mirror(m: Market, ops: list[tuple],
                                                                      queries: list[tuple[int, int]]) -> None:
    """A 200,000-serial block straddling 2^40 (so the ranges cross every level of the radix trie):
    allocations, explicit ranges, refusals and overlap look-ups equal the Python mirror's."""
    snap = m.client.rpc("evm_snapshot")
    try:
        p, base = "WIDE-", 2**40 - 70_000
        book = SerialBook()
        b = m.issue_batch(200_000, SerialRange(p, base, base + 199_999))
        book.issue(b, SerialRange(p, base, base + 199_999), 200_000)
        for op in ops:
            if op[0] == "auto":
                rng, amount = NO_SERIALS, op[1]
            else:
                start = max(base + op[1] + op[2], 1)
                rng, amount = SerialRange(p, start, start + op[3] - 1), op[3]
            req = RetirementRequest(m.acct["owner"], b, amount, BENEFICIARY, PURPOSE, serials=rng)
            try:
                want = book.retire(b, amount, rng)
            except SerialsRefused as e:
                m.refused(m.registry.functions.retire(req.as_tuple()), "registry", e.error)
                continue
            got = m.retire(req)["cert"]
            assert (got["serialStart"], got["serialEnd"]) == (want.start, want.end), (op, want)
            assert tuple(m.call(m.registry.functions.nextFreeRun(b))) == book.next_free_run(b)
        ranges = book.retired.get(p, [])
        for off, length in queries:
            qs, qe = base + off, base + off + length
            hits = [r for r in ranges if r[0] <= qe and r[1] >= qs]
            found, os_, oe = m.call(m.registry.functions.retiredOverlap(keccak256(p.encode()), qs, qe))
            assert found == bool(hits)
            if hits:
                assert (os_, oe) == max(hits)
    finally:
        m.client.rpc("evm_revert", snap)
        m.client.rewind()


def test_replay_of_a_real_acr_retirement_file_refuses_repeats_and_costs_the_same_per_row(m: Market) -> None:
    """The ACR block retired in the most pieces (264 rows): every row is accepted once, its repeat
    is refused, and the gas of a retirement does not grow with the number of earlier ones."""
    prefix = "ACR-US-119-2003-163-"
    rows = []
    with open(shared_data("offsets_registry/ACR_retirements.csv"), encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            r = parse_serial_range(row["Offset Credit Serial Numbers"])
            if r.prefix == prefix:
                rows.append((r, row["Account Holder"] or "unknown", row["Retirement Reason"] or "unspecified",
                             row["Retirement Reason Details"]))
    assert len(rows) == 264
    total = sum(r.count for r, *_ in rows)
    b = m.issue_batch(total)  # ACR issuance files carry no serials
    owner = m.acct["owner"]
    calls = [Call.of(m.registry.functions.retire(RetirementRequest(owner, b, r.count, ben or "unknown", pur, why, r).as_tuple()),
                     m.acct["registry"], gas=600_000) for r, ben, pur, why in rows]
    results = []
    for i in range(0, len(calls), 66):
        results += m.client.send(calls[i:i + 66])
    gas = [r.gas_used for r in results]
    assert all(r.status == 1 for r in results)
    assert max(gas[-50:]) <= max(gas[:50]) + 25_000, (gas[:5], gas[-5:])
    assert m.supply(CCER)["retired"] == total
    r, ben, pur, why = rows[100]
    m.refused(m.registry.functions.retire(RetirementRequest(owner, b, 0 or r.count, ben, pur, why, r).as_tuple()), "registry",
              "BatchExhausted")
    m.issue_batch(r.count)  # with units to spare, the repeat is refused for its serials
    m.refused(m.registry.functions.retire(RetirementRequest(owner, b + 1, r.count, ben, pur, why, r).as_tuple()), "registry",
              "SerialsAlreadyRetired")
