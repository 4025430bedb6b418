"""CarbonAssets, CCERRegistry, CashToken and Settlement on a real Anvil node: access control on
every mutating function, freeze and pause, serial ranges (overlap, split, replay of a real
retirement file), the supply invariant under random operation sequences, and delivery versus
payment settlement (double settlement, bad trades in atomic and skip mode, fees)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.accounting.assets import ccer_id, cea_id
from ledger.accounting.settlement import Reason, Trade, matched_orders, settlement_domain
from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ContractRevert, TxResult
from ledger.contracts.deploy import deploy_assets, deploy_market
from ledger.contracts.deployment import BINDINGS
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.offsets.serials import (
    NO_SERIALS,
    SERIAL_STATUSES,
    RetirementRequest,
    SerialBook,
    SerialRange,
    SerialsRefused,
    parse_serial_range,
)
from tests.conftest import World, shared_data

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
    keys: dict[str, bytes] = field(default_factory=dict)

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
        out = self.assets.supplyOf(token_id).as_dict()
        out["holdings"] = self.call(self.assets.functions.totalSupply_uint256(token_id))
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
        return self.registry.decode_events(r, "BatchIssued")[0].batchId

    def retire(self, req: RetirementRequest, who: str = "owner") -> dict[str, Any]:
        r = self.tx(self.registry.functions.retire(req.as_tuple()), who)
        (ev,) = self.registry.decode_events(r, "RetirementCertified")
        return {**ev.as_dict(), "gas": r.gas_used}


@pytest.fixture(scope="module")
def market(world: World, artifacts: dict[str, Any]) -> Iterator[Market]:
    """Deploy CarbonAssets and the market on top of the world, admit an exchange, a registry, a
    settlement bank and a project owner, grant a test EOA ("issuer") CEA_ISSUER_ROLE and
    COMPLIANCE_ROLE, register project 1001; reverted when the module ends."""
    client = world.client
    snap = client.rpc("evm_snapshot")
    acct, keys = dict(world.acct), dict(world.keys)
    for name in [*NEW_ORGS, "issuer"]:
        keys[name] = new_private_key()
        acct[name] = client.add_account(keys[name])
    set_balances(client, [acct[n] for n in [*NEW_ORGS, "issuer"]])
    dep, reg = world.dep, acct["regulator"]
    client.send([Call.of(dep.participants.functions.admit(org_id(u), dep.role(role), uscc_bytes32(u), 28800, acct[n], f"test {n}"), reg)
                 for n, (u, role) in NEW_ORGS.items()])
    assets_addr = deploy_assets(client, artifacts, reg, dep.participants.address)
    addrs = deploy_market(client, artifacts, reg, dep.participants.address, assets_addr)
    c = lambda name, a: BINDINGS[name](client, a)  # noqa: E731
    m = Market(world, c("CarbonAssets", assets_addr), c("CCERRegistry", addrs["CCERRegistry"]),
               c("CashToken", addrs["CashToken"]), c("Settlement", addrs["Settlement"]), acct, keys=keys)
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
    d = m.call(reg.projectDates(PROJECT))
    assert (d.registered, d.registeredAt, d.creditingStart, d.owner) == (True, 1_700_000_000, 1_600_761_600, m.acct["owner"])
    none = m.call(reg.projectDates(7))
    assert (none.registered, none.registeredAt, none.creditingStart) == (False, 0, 0)
    p = m.call(reg.project(PROJECT))
    assert p.owner == m.acct["owner"] and p.methodology == keccak256(b"CCER-14-001-V01")


def test_register_project_refuses_bad_input(m: Market) -> None:
    reg, o = m.registry.functions, m.acct["owner"]
    m.refused(reg.registerProject(0, o, bytes(32), bytes(32), 0, 0, "x"), "registry", "InvalidProject")
    m.refused(reg.registerProject(PROJECT, o, bytes(32), bytes(32), 0, 0, "x"), "registry", "ProjectExists")
    m.refused(reg.registerProject(2, m.acct["outsider"], bytes(32), bytes(32), 0, 0, "x"), "registry", "NotAdmitted")
    m.refused(reg.registerProject(2, o, bytes(32), bytes(32), 0, 0, ""), "registry", "MissingText")
    m.refused(reg.registerProject(2, o, bytes(32), bytes(32), 0, 0, "x"), "owner", "NotActiveParticipant")


def test_issue_batch_with_serials_mints_to_the_owner_and_records_the_range(m: Market) -> None:
    s = serials("CCER-CN-1001-2021-1 to 5000")
    b = m.issue_batch(5000, s)
    assert b == 1 and m.call(m.registry.functions.batchCount()) == 1
    assert m.bal("owner", CCER) == 5000
    batch = m.call(m.registry.functions.batch(b))
    assert (batch.project, batch.vintage, batch.amount, batch.retired, batch.serialStart, batch.serialEnd,
            batch.cursor) == (PROJECT, VINTAGE, 5000, 0, 1, 5000, 1)
    assert batch.serialPrefix == s.prefix_hash
    assert m.supply(CCER)["issued"] == 5000
    assert _run(m, b) == (1, 5000)


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
    m.refused(reg.issueBatch(PROJECT, VINTAGE, 10, "", 0, 0, bytes(32)), "owner", "NotActiveParticipant")


def test_partial_retirement_splits_the_range_and_records_the_exact_serials(m: Market) -> None:
    p = "CCER-CN-1001-2021-"
    b = m.issue_batch(100, SerialRange(p, 1001, 1100))
    c1 = m.retire(RetirementRequest(m.acct["owner"], b, 30, BENEFICIARY, PURPOSE, "Q1"), who="owner")
    assert (c1["certificateId"], c1["cert"]["serialStart"], c1["cert"]["serialEnd"]) == (1, 1001, 1030)
    assert _run(m, b) == (1031, 1100)
    # an explicit range in the middle splits the free run in two
    c2 = m.retire(RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, serials=SerialRange(p, 1050, 1059)))
    assert (c2["cert"]["serialStart"], c2["cert"]["serialEnd"]) == (1050, 1059)
    assert _run(m, b) == (1031, 1049)
    e = m.refused(m.registry.functions.retire(RetirementRequest(m.acct["owner"], b, 30, BENEFICIARY, PURPOSE).as_tuple()),
                  "owner", "SerialsFragmented")
    assert e.args_[1:] == (1031, 1049, 30)
    c3 = m.retire(RetirementRequest(m.acct["owner"], b, 19, BENEFICIARY, PURPOSE))
    assert (c3["cert"]["serialStart"], c3["cert"]["serialEnd"]) == (1031, 1049)
    # the cursor jumps over the explicit range
    assert _run(m, b) == (1060, 1100)
    for start, end in [(1055, 1065), (1001, 1001), (1030, 1031), (1049, 1050)]:
        req = RetirementRequest(m.acct["owner"], b, end - start + 1, BENEFICIARY, PURPOSE, serials=SerialRange(p, start, end))
        m.refused(m.registry.functions.retire(req.as_tuple()), "owner", "SerialsAlreadyRetired")
    for bad in [SerialRange(p, 1095, 1104), SerialRange("OTHER-", 1090, 1099), SerialRange(p, 990, 999)]:
        req = RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, serials=bad)
        m.refused(m.registry.functions.retire(req.as_tuple()), "owner", "SerialsOutsideBatch")
    c4 = m.retire(RetirementRequest(m.acct["owner"], b, 41, BENEFICIARY, PURPOSE))
    assert (c4["cert"]["serialStart"], c4["cert"]["serialEnd"]) == (1060, 1100)
    assert _run(m, b) == (0, 0)
    m.refused(m.registry.functions.retire(RetirementRequest(m.acct["owner"], b, 1, BENEFICIARY, PURPOSE).as_tuple()),
              "owner", "BatchExhausted")
    assert m.supply(CCER)["retired"] == 100 and m.bal("owner", CCER) == 0
    assert m.call(m.registry.functions.certificateCount()) == 4


def test_certificate_records_holder_amount_serials_beneficiary_purpose_and_reason(m: Market) -> None:
    p = "CCER-CN-1001-2021-"
    b = m.issue_batch(50, SerialRange(p, 1, 50))
    ev = m.retire(RetirementRequest(m.acct["owner"], b, 7, BENEFICIARY, PURPOSE, "Applied to EY 2017"))
    got = m.call(m.registry.functions.certificate(ev["certificateId"]))
    cert = got.cert
    assert got.assetId == CCER == ev["assetId"]
    assert cert.holder == m.acct["owner"] == ev["holder"]
    assert (cert.batchId, cert.amount, cert.serialStart, cert.serialEnd) == (b, 7, 1, 7)
    assert cert.serialPrefix == keccak256(p.encode())
    assert (cert.beneficiary, cert.purpose, cert.reason) == (BENEFICIARY, PURPOSE, "Applied to EY 2017")
    assert ev["by"].lower() == m.acct["owner"].lower()
    m.refused(m.registry.functions.certificate(0), "registry", "UnknownCertificate")
    m.refused(m.registry.functions.certificate(2), "registry", "UnknownCertificate")


def test_batch_without_serials_retires_by_amount_only_and_refuses_any_range(m: Market) -> None:
    b = m.issue_batch(1000)
    owner = m.acct["owner"]
    ev = m.retire(RetirementRequest(owner, b, 10, BENEFICIARY, PURPOSE))  # by amount: no serials
    assert (ev["cert"]["serialPrefix"], ev["cert"]["serialStart"], ev["cert"]["serialEnd"]) == (bytes(32), 0, 0)
    p = "ACR-US-102-2003-274-"
    req = RetirementRequest(owner, b, 62, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158095 to 120158156"))
    m.refused(m.registry.functions.retire(req.as_tuple()), "owner", "SerialsOutsideBatch")  # no invented range
    req = RetirementRequest(owner, b, 5, BENEFICIARY, PURPOSE, serials=serials(f"{p}120158095 to 120158100"))
    m.refused(m.registry.functions.retire(req.as_tuple()), "owner", "SerialCountMismatch")
    req = RetirementRequest(owner, b, 1000 - 10 + 1, BENEFICIARY, PURPOSE)
    m.refused(m.registry.functions.retire(req.as_tuple()), "owner", "BatchExhausted")
    assert m.call(m.registry.functions.batch(b)).retired == 10


def test_retire_is_the_holders_own_or_relayed_with_its_signature(m: Market) -> None:
    b = m.issue_batch(100)
    owner = m.acct["owner"]
    m.retire(RetirementRequest(owner, b, 1, BENEFICIARY, PURPOSE), who="owner")
    for who in ("outsider", "enterprise", "exchange", "registry"):
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
    ]
    for req, error in cases:
        m.refused(m.registry.functions.retire(req.as_tuple()), "owner", error)
    m.refused(m.registry.functions.retire(RetirementRequest(m.acct["enterprise"], b, 1, BENEFICIARY, PURPOSE).as_tuple()),
              "enterprise", "ERC1155InsufficientBalance")


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
    b = m.issue_batch(100)
    reg = m.registry.functions
    r = m.tx(reg.cancel(b, 40, keccak256(b"Verra")), "owner")
    ev = m.registry.decode_events(r, "CreditsCancelled")[0]
    assert (ev.amount, ev.assetId, ev.destination, ev.batchId) == (40, CCER, keccak256(b"Verra"), b)
    s = m.supply(CCER)
    assert (s["issued"], s["cancelled"], s["holdings"]) == (100, 40, 60)
    m.refused(reg.cancel(b, 1, bytes(32)), "outsider", "NotAdmitted")
    m.refused(reg.cancel(77, 1, bytes(32)), "owner", "UnknownBatch")
    m.refused(reg.cancel(b, 0, bytes(32)), "owner", "InvalidAmount")
    m.refused(reg.cancel(b, 61, bytes(32)), "owner", "BatchExhausted")
    m.refused(reg.cancel(b, 1, bytes(32)), "enterprise", "ERC1155InsufficientBalance")


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
                m.refused(m.registry.functions.retire(req.as_tuple()), "owner", e.error)
                continue
            got = m.retire(req)["cert"]
            assert (got["serialStart"], got["serialEnd"]) == (want.start, want.end), (op, want)
            for bid in (b1, b2):
                assert _run(m, bid) == book.next_free_run(bid)
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
                m.refused(m.registry.functions.retire(req.as_tuple()), "owner", e.error)
                continue
            got = m.retire(req)["cert"]
            assert (got["serialStart"], got["serialEnd"]) == (want.start, want.end), (op, want)
            run = m.call(m.registry.functions.nextFreeRun(b))
            assert (run.runStart, run.runEnd) == book.next_free_run(b)
        for off, length in queries:
            qs, qe = base + off, base + off + length
            # the contract merges adjacent ranges of one status (issue 12): the mirror's merged runs
            hit = book.marked_overlap(p, qs, qe)
            ov = m.call(m.registry.functions.retiredOverlap(keccak256(p.encode()), qs, qe))
            found, os_, oe = ov.found, ov.otherStart, ov.otherEnd
            assert found == (hit is not None)
            if hit is not None:
                assert (os_, oe) == hit[:2]
            st = m.call(m.registry.functions.serialState(keccak256(p.encode()), qs))
            assert (SERIAL_STATUSES[st.status], st.runStart, st.runEnd) == book.serial_state(p, qs)
    finally:
        m.client.rpc("evm_revert", snap)
        m.client.rewind()


def test_replay_of_a_real_acr_retirement_file_refuses_repeats_and_costs_the_same_per_row(m: Market) -> None:
    """The ACR block retired in the most pieces (264 rows, serials 119830752…119837168 without a
    gap): the holder retires every row once by its serials, its repeat is refused, and the gas of
    a retirement does not grow with the number of earlier ones.

    ACR issuance files carry no serials, and v2 retires a batch issued without serials by amount
    only (SerialsOutsideBatch for a named range), so the batch here is issued with the block the
    rows name plus ``spare`` serials before it (the repeat then has units to spare and meets
    SerialsAlreadyRetired; once the spare serials are retired too it meets BatchExhausted).
    The spare run sits below the block so that no row starts at the batch's free-serial cursor.
    Adjacent retired ranges are merged (issue 12), so the 264 rows end as one range and the
    retirement of the spare run at the cursor steps over it once (v1 walked 264 ranges:
    1,002,983 gas)."""
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
    first, last = min(r.start for r, *_ in rows), max(r.end for r, *_ in rows)
    assert last - first + 1 == total  # one block, no gap
    repeat, ben, pur, why = rows[100]
    spare = repeat.count
    b = m.issue_batch(total + spare, SerialRange(prefix, first - spare, last))
    owner = m.acct["owner"]
    retired0 = m.supply(CCER)["retired"]
    # v2: the holder retires its own units (the registry may only relay a signed instruction)
    calls = [Call.of(m.registry.functions.retire(RetirementRequest(owner, b, r.count, ben or "unknown", pur, why, r).as_tuple()),
                     owner, gas=600_000) for r, ben, pur, why in rows]
    results = []
    for i in range(0, len(calls), 66):
        results += m.client.send(calls[i:i + 66])
    gas = [r.gas_used for r in results]
    assert all(r.status == 1 for r in results)
    assert max(gas[-50:]) <= max(gas[:50]) + 25_000, (gas[:5], gas[-5:])
    assert m.supply(CCER)["retired"] - retired0 == total
    m.refused(m.registry.functions.retire(RetirementRequest(owner, b, spare, ben, pur, why, repeat).as_tuple()), "owner",
              "SerialsAlreadyRetired")
    ov = m.call(m.registry.functions.retiredOverlap(keccak256(prefix.encode()), first, last))
    assert (ov.found, ov.otherStart, ov.otherEnd) == (True, first, last)  # 264 rows, one range
    walk = m.retire(RetirementRequest(owner, b, spare, ben, pur, why, SerialRange(prefix, first - spare, first - 1)))
    assert walk["gas"] < 400_000, walk["gas"]
    print(f"gas ACR row retirements first/last {gas[0]:,}/{gas[-1]:,}; spare run at the cursor (steps over the {len(rows)} rows, merged into one range) "
          f"{walk['gas']:,}")
    m.refused(m.registry.functions.retire(RetirementRequest(owner, b, spare, ben, pur, why, repeat).as_tuple()), "owner",
              "BatchExhausted")


# ============================================================================ access control
def test_every_mutating_function_refuses_an_outsider(m: Market) -> None:
    """Every state-changing entry point of CarbonAssets, CCERRegistry, CashToken and Settlement
    refuses an unadmitted account (and the role-gated ones also an admitted account of the wrong
    role), with the named custom error."""
    b = m.issue_batch(100)
    m.issue_cea("enterprise", 50)
    m.deposit("enterprise2", 10_000)
    a, r, c, s = m.assets.functions, m.registry.functions, m.cash.functions, m.settlement.functions
    out, ent, ref = m.acct["outsider"], m.acct["enterprise"], keccak256(b"ref")
    trade = _trade(m, "T-1", 1, 100).as_tuple()
    cases = [
        (a.grantOperator(m.roles["CEA_ISSUER_ROLE"], out), "NotConstitution"),
        (a.revokeOperator(m.roles["CEA_ISSUER_ROLE"], m.acct["issuer"]), "NotConstitution"),
        (a.freeze(ent, "x"), "NotRegulator"),
        (a.unfreeze(ent, "x"), "NotRegulator"),
        (a.pause(), "NotConstitution"),
        (a.unpause(), "NotConstitution"),
        (a.issue(out, CEA, 1, ref), "WrongIssuerForClass"),
        (a.issue(ent, CCER, 1, ref), "WrongIssuerForClass"),
        (a.clawback(ent, CEA, 1, ref), "NotOperator"),
        (a.surrender(ent, CEA, 1, ref), "NotOperator"),
        (a.retireFrom(m.acct["owner"], CCER, 1, ref), "NotOperator"),
        (a.cancelFrom(m.acct["owner"], CCER, 1, ref), "NotOperator"),
        (a.settlementTransfer(ent, out, CEA, 1), "NotOperator"),
        (a.retire(CEA, 1, BENEFICIARY, PURPOSE, ""), "NotAdmitted"),
        (a.safeTransferFrom(out, ent, CEA, 0, b""), "NotAdmitted"),
        (a.safeTransferFrom(ent, out, CEA, 1, b""), "ERC1155MissingApprovalForAll"),
        (a.safeBatchTransferFrom(out, ent, [CEA], [0], b""), "NotAdmitted"),
        (a.setApprovalForAll(ent, True), "NotAdmitted"),
        (r.registerProject(5, m.acct["owner"], bytes(32), bytes(32), 0, 0, "x"), "NotActiveParticipant"),
        (r.issueBatch(PROJECT, VINTAGE, 1, "", 0, 0, ref), "NotActiveParticipant"),
        (r.retire(RetirementRequest(m.acct["owner"], b, 1, BENEFICIARY, PURPOSE).as_tuple()), "NotHolderOrRegistry"),
        (r.retire(RetirementRequest(out, b, 1, BENEFICIARY, PURPOSE).as_tuple()), "NotAdmitted"),
        (r.cancelFor(m.acct["owner"], 1, 1, ref, 2**40, bytes(65)), "NotActiveParticipant"),
        (r.retireFor(RetirementRequest(m.acct["owner"], 1, 1, BENEFICIARY, PURPOSE).as_tuple(), 2**40, bytes(65)), "NotActiveParticipant"),
        (r.clawbackCancel(m.acct["owner"], 1, 1, ref, ref), "NotConstitution"),
        (c.orderWithdrawal(m.acct["enterprise2"], 1, ref, ref), "NotConstitution"),
        (c.deposit(out, 1, ref), "NotActiveParticipant"),
        (c.withdraw(m.acct["enterprise2"], 1, ref, 2**40, bytes(65)), "NotActiveParticipant"),
        (c.grantOperator(out), "NotConstitution"),
        (c.revokeOperator(m.settlement.address), "NotConstitution"),
        (c.settlementTransfer(m.acct["enterprise2"], out, 1), "NotOperator"),
        (c.transfer(ent, 0), "TransfersOnlyThroughSettlement"),
        (c.transferFrom(m.acct["enterprise2"], out, 1), "TransfersOnlyThroughSettlement"),
        (c.approve(ent, 1), "TransfersOnlyThroughSettlement"),
        (s.settle([trade], True), "NotActiveParticipant"),
        (s.settle([trade], False), "NotActiveParticipant"),
        (s.setFeeAccount(out), "NotActiveParticipant"),
    ]
    for fn, error in cases:
        m.refused(fn, "outsider", error)
    # admitted accounts of the wrong role
    for fn, error in [(a.pause(), "NotConstitution"), (r.issueBatch(PROJECT, VINTAGE, 1, "", 0, 0, ref), "NotActiveParticipant"),
                      (c.deposit(ent, 1, ref), "NotActiveParticipant"), (c.grantOperator(ent), "NotConstitution"),
                      (s.settle([trade], True), "NotActiveParticipant"), (s.setFeeAccount(ent), "NotActiveParticipant"),
                      (a.issue(ent, CEA, 1, ref), "WrongIssuerForClass")]:
        m.refused(fn, "enterprise", error)
    # the bank cannot move cash between holders, the exchange cannot deliver directly
    m.refused(c.settlementTransfer(m.acct["enterprise2"], ent, 1), "bank", "NotOperator")
    m.refused(a.settlementTransfer(ent, m.acct["enterprise2"], CEA, 1), "exchange", "NotOperator")


# ============================================================================ CarbonAssets
def test_transfers_go_only_between_admitted_unfrozen_accounts_while_unpaused(m: Market) -> None:
    m.issue_cea("enterprise", 100)
    a, ent, ent2 = m.assets.functions, m.acct["enterprise"], m.acct["enterprise2"]
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 30, b""), "enterprise")
    assert (m.bal("enterprise", CEA), m.bal("enterprise2", CEA)) == (70, 30)
    m.refused(a.safeTransferFrom(ent, m.acct["outsider"], CEA, 1, b""), "enterprise", "NotAdmitted")
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 71, b""), "enterprise", "ERC1155InsufficientBalance")
    m.refused(a.safeTransferFrom(ent, ent2, CEA | 1, 0, b""), "enterprise", "MalformedAssetId")
    m.tx(a.freeze(ent2, "决定书 2024-1"), "regulator")
    assert m.call(a.isFrozen(ent2)) is True
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", "AccountIsFrozen")   # frozen receiver
    m.refused(a.safeTransferFrom(ent2, ent, CEA, 1, b""), "enterprise2", "AccountIsFrozen")  # frozen sender
    m.refused(a.retire(CEA, 1, BENEFICIARY, PURPOSE, ""), "enterprise2", "AccountIsFrozen")
    m.refused(a.surrender(ent2, CEA, 1, bytes(32)), "issuer", "AccountIsFrozen")
    assert m.call(a.transferCheck(ent, ent2, CEA, 1)) == 5
    m.refused(a.freeze(ent2, "again"), "regulator", "FreezeUnchanged")
    m.refused(a.unfreeze(ent, "never frozen"), "regulator", "FreezeUnchanged")
    m.refused(a.unfreeze(ent2, ""), "regulator", "MissingText")
    m.tx(a.unfreeze(ent2, "lifted"), "regulator")
    m.tx(a.pause(), "regulator")
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", "EnforcedPause")
    m.refused(a.retire(CEA, 1, BENEFICIARY, PURPOSE, ""), "enterprise", "EnforcedPause")
    m.refused(a.pause(), "regulator", "EnforcedPause")
    m.tx(a.unpause(), "regulator")
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise")


def test_cea_retirement_by_the_holder_is_final_and_needs_beneficiary_and_purpose(m: Market) -> None:
    m.issue_cea("enterprise", 10)
    a = m.assets.functions
    r = m.tx(a.retire(CEA, 4, "Shanghai Marathon 2024", "carbon neutrality", "event offset"), "enterprise")
    ev = m.assets.decode_events(r, "Retired")[0]
    assert (ev.amount, ev.beneficiary, ev.purpose) == (4, "Shanghai Marathon 2024", "carbon neutrality")
    assert m.supply(CEA)["retired"] == 4 and m.bal("enterprise", CEA) == 6
    m.refused(a.retire(CEA, 1, "", PURPOSE, ""), "enterprise", "MissingText")
    m.refused(a.retire(CEA, 1, BENEFICIARY, "", ""), "enterprise", "MissingText")
    m.refused(a.retire(CEA, 0, BENEFICIARY, PURPOSE, ""), "enterprise", "ZeroAmount")
    m.refused(a.retire(CCER, 1, BENEFICIARY, PURPOSE, ""), "enterprise", "UseRegistryToRetireCcer")


def test_clawback_takes_at_most_the_balance_and_surrender_burns_into_its_bucket(m: Market) -> None:
    m.issue_cea("enterprise", 10)
    a, ent = m.assets.functions, m.acct["enterprise"]
    r = m.tx(a.clawback(ent, CEA, 15, keccak256(b"final allocation")), "issuer")
    ev = m.assets.decode_events(r, "ClawedBack")[0]
    assert (ev.requested, ev.taken) == (15, 10)
    m.refused(a.clawback(ent, CCER, 1, bytes(32)), "issuer", "WrongIssuerForClass")
    m.issue_cea("enterprise", 5)
    m.tx(a.surrender(ent, CEA, 5, keccak256(b"2021")), "issuer")
    m.refused(a.surrender(ent, CEA, 0, bytes(32)), "issuer", "ZeroAmount")
    s = m.supply(CEA)
    assert (s["issued"], s["clawedBack"], s["surrendered"], s["holdings"]) == (15, 10, 5, 0)
    m.refused(a.issue(m.acct["outsider"], CEA, 1, bytes(32)), "issuer", "NotAdmitted")
    m.refused(a.issue(ent, CEA, 0, bytes(32)), "issuer", "ZeroAmount")
    m.refused(a.grantOperator(keccak256(b"OTHER"), ent), "regulator", "UnknownOperatorRole")


_SUPPLY_OPS = st.lists(
    st.tuples(st.sampled_from(["issue_cea", "issue_ccer", "transfer", "retire_cea", "retire_ccer", "cancel",
                               "clawback", "surrender"]),
              st.integers(0, 2), st.integers(0, 2), st.integers(1, 60), st.booleans()),
    min_size=15, max_size=15,
)


#: Why a random step may be refused: more than the holder (or the batch) has, a zero amount, CCER
#: surrendered or clawed back through the CEA issuer. Any other refusal fails the property: a step
#: refused for a wrong reason would leave the invariant checked on nothing.
_SUPPLY_REFUSALS = {"ERC1155InsufficientBalance", "ZeroAmount", "BatchExhausted", "WrongIssuerForClass"}


def test_supply_invariant_holds_for_every_id_under_random_sequences(m: Market) -> None:
    """holdings + retired + surrendered + cancelled + clawedBack == issued for every id after any
    sequence of issue / transfer / retire / cancel / clawback / surrender. Refused steps are
    skipped, but only for the reasons in ``_SUPPLY_REFUSALS``, and over all examples most steps
    must succeed, each kind of step many times, so the invariant is checked on real movements."""
    attempted: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()
    refusals: Counter[str] = Counter()

    @settings(max_examples=25, deadline=None)
    @given(ops=_SUPPLY_OPS)
    def run(ops: list[tuple]) -> None:
        _supply_example(m, ops, attempted, succeeded, refusals)

    run()
    total, done = sum(attempted.values()), sum(succeeded.values())
    stats = (attempted, succeeded, refusals)
    assert set(refusals) <= _SUPPLY_REFUSALS, stats
    assert total >= 25 * 12 and done >= total * 2 // 5, stats                 # measured: 223 of 375 (59 %)
    assert all(succeeded[op] >= 3 for op in attempted), stats                # every kind of step really ran


def _supply_example(m: Market, ops: list[tuple], attempted: Counter[str], succeeded: Counter[str],
                    refusals: Counter[str]) -> None:
    """One example of the supply property: run ``ops``, count the steps, check the invariant."""
    snap = m.client.rpc("evm_snapshot")
    try:
        holders = ["enterprise", "enterprise2", "owner"]
        ids = [CEA, cea_id(2022), CCER]
        m.issue_cea("enterprise", 100)
        batch: int | None = m.issue_batch(100)
        for op, hi, ii, amount, flag in ops:
            h, h2 = holders[hi], holders[(hi + 1) % 3]
            cea = [CEA, cea_id(2022)][ii % 2]
            fn, who = None, "issuer"
            a = m.assets.functions
            if op == "issue_cea":
                fn = a.issue(m.acct[h], cea, amount, bytes(32))
            elif op == "issue_ccer":
                fn, who = m.registry.functions.issueBatch(PROJECT, VINTAGE, amount, "", 0, 0, bytes(32)), "registry"
            elif op == "transfer":
                tid = ids[ii]
                fn, who = a.safeTransferFrom(m.acct[h], m.acct[h2], tid, min(amount, m.bal(h, tid)), b""), h
            elif op == "retire_cea":
                fn, who = a.retire(cea, amount if flag else max(1, m.bal(h, cea)), BENEFICIARY, PURPOSE, ""), h
            elif op == "retire_ccer" and batch is not None:
                h = "owner" if flag else h  # v2: the holder retires its own units; the owner holds most CCER
                req = RetirementRequest(m.acct[h], batch, amount if flag else max(1, m.bal(h, CCER)), BENEFICIARY, PURPOSE)
                fn, who = m.registry.functions.retire(req.as_tuple()), h
            elif op == "cancel":
                h = "owner" if flag else h  # the owner holds most CCER
                fn, who = m.registry.functions.clawbackCancel(m.acct[h], batch or 1, amount, bytes(32), keccak256(b"r")), "regulator"
            elif op == "clawback":
                fn = a.clawback(m.acct[h], cea, amount, bytes(32))
            elif op == "surrender":
                fn = a.surrender(m.acct[h], ids[ii], amount if flag else max(1, m.bal(h, ids[ii])), bytes(32))
            if fn is None:
                continue
            attempted[op] += 1
            try:
                r = m.tx(fn, who)
            except ContractRevert as exc:
                refusals[exc.error or "?"] += 1
                continue
            succeeded[op] += 1
            if op == "issue_ccer":
                batch = m.registry.decode_events(r, "BatchIssued")[0].batchId
        for tid in ids:
            s = m.supply(tid)
            assert s["holdings"] == sum(m.bal(h, tid) for h in holders)
            assert s["holdings"] + s["retired"] + s["surrendered"] + s["cancelled"] + s["clawedBack"] == s["issued"], (tid, s)
    finally:
        m.client.rpc("evm_revert", snap)
        m.client.rewind()


# ============================================================================ CashToken
def _withdrawal(m: Market, account: str, fen: int, ref: bytes) -> bytes:
    """The holder's signed withdrawal request (deadline 2^40)."""
    name = next(n for n, a in m.acct.items() if a == account)
    return Signer(m.keys[name]).sign_digest(m.call(m.cash.functions.withdrawalDigest(account, fen, keccak256(ref), 2**40)))


def test_cash_token_is_minted_and_burnt_by_the_bank_only_against_unique_references(m: Market) -> None:
    c, ent = m.cash.functions, m.acct["enterprise"]
    assert m.call(c.decimals()) == 0 and m.call(c.name()) == "CarbonLedger CNY deposit"
    r = m.tx(c.deposit(ent, 1_234_500, keccak256(b"ICBC-0001")), "bank")
    ev = m.cash.decode_events(r, "Deposited")[0]
    assert (ev.amount, ev.bankRef) == (1_234_500, keccak256(b"ICBC-0001"))
    m.refused(c.deposit(ent, 1, keccak256(b"ICBC-0001")), "bank", "BankRefInvalidOrUsed")
    m.refused(c.deposit(ent, 1, bytes(32)), "bank", "BankRefInvalidOrUsed")
    m.refused(c.deposit(ent, 0, keccak256(b"ICBC-0002")), "bank", "ZeroAmount")
    m.refused(c.deposit(m.acct["outsider"], 1, keccak256(b"ICBC-0002")), "bank", "NotAdmitted")
    m.tx(c.withdraw(ent, 234_500, keccak256(b"ICBC-0003"), 2**40, _withdrawal(m, ent, 234_500, b"ICBC-0003")), "bank")
    m.refused(c.withdraw(ent, 1_000_001, keccak256(b"ICBC-0004"), 2**40, _withdrawal(m, ent, 1_000_001, b"ICBC-0004")),
              "bank", "ERC20InsufficientBalance")
    m.refused(c.withdraw(ent, 0, keccak256(b"ICBC-0004"), 2**40, bytes(65)), "bank", "ZeroAmount")
    assert m.cash_of("enterprise") == 1_000_000 and m.call(c.totalSupply()) == 1_000_000
    assert m.call(c.bankRefUsed(keccak256(b"ICBC-0003"))) is True
    m.refused(c.transfer(m.acct["enterprise2"], 1), "enterprise", "TransfersOnlyThroughSettlement")
    m.refused(c.approve(m.acct["enterprise2"], 1), "enterprise", "TransfersOnlyThroughSettlement")


def test_cash_operator_changes_are_the_regulators_and_emit_events(m: Market) -> None:
    c, s = m.cash.functions, m.settlement.address
    assert m.call(c.isOperator(s)) is True
    m.refused(c.grantOperator(s), "regulator", "OperatorUnchanged")
    r = m.tx(c.revokeOperator(s), "regulator")
    assert m.cash.decode_events(r, "OperatorRevoked")[0].account.lower() == s.lower()
    m.refused(c.revokeOperator(s), "regulator", "OperatorUnchanged")
    r = m.tx(c.grantOperator(s), "regulator")
    assert len(m.cash.decode_events(r, "OperatorGranted")) == 1


# ============================================================================ Settlement
def _setup_trading(m: Market, cea: int = 1_000, fen: int = 10_000_000) -> None:
    m.issue_cea("enterprise", cea)
    m.deposit("enterprise2", fen)
    m.tx(m.settlement.functions.setFeeAccount(m.acct["exchange"]), "exchange")


def _trade(m: Market, ref: str, qty: int = 10, price: int = 9_796, seller: str = "enterprise", buyer: str = "enterprise2",
           asset: int = CEA, bfee: int = 0, sfee: int = 0) -> Trade:
    """A fill of a buy and a sell order (nonce from ``ref``) signed by the buyer and the seller."""
    buy, sell = matched_orders(_domain(m), (m.acct[seller], m.keys[seller]), (m.acct[buyer], m.keys[buyer]), asset,
                               max(qty, 1), price, 2**40, int.from_bytes(keccak256(ref.encode())), 10**9)
    return Trade(buy, sell, qty, price, 0, bfee, sfee)


def _domain(m: Market) -> Any:
    return settlement_domain(m.client.chain_id, m.settlement.address)


def _tid(m: Market, t: Trade) -> bytes:
    return t.trade_id(_domain(m))


def _settle(m: Market, trades: list[Trade], atomic: bool) -> TxResult:
    return m.tx(m.settlement.functions.settle([t.as_tuple() for t in trades], atomic), "exchange")


def test_a_trade_settles_delivery_versus_payment_with_fees(m: Market) -> None:
    _setup_trading(m)
    t = _trade(m, "SEEE-20240102-0001", qty=100, price=9_796, bfee=490, sfee=490)  # CNY 97.96/t
    r = _settle(m, [t], True)
    ev = m.settlement.decode_events(r, "TradeSettled")[0]
    assert (ev.quantity, ev.priceFen, ev.valueFen) == (100, 9_796, 979_600)
    assert (m.bal("enterprise", CEA), m.bal("enterprise2", CEA)) == (900, 100)
    assert m.cash_of("enterprise2") == 10_000_000 - 979_600 - 490
    assert m.cash_of("enterprise") == 979_600 - 490
    assert m.cash_of("exchange") == 980
    assert m.call(m.settlement.functions.settledAt(_tid(m, t))) > 0
    assert m.call(m.settlement.functions.settledAt(keccak256(b"never"))) == 0


def test_a_trade_id_settles_at_most_once_and_a_retried_batch_is_a_no_op(m: Market) -> None:
    _setup_trading(m)
    trades = [_trade(m, f"T-{i}", qty=5) for i in range(3)]
    _settle(m, trades, True)
    before = (m.bal("enterprise", CEA), m.cash_of("enterprise2"))
    for atomic in (True, False):
        r = _settle(m, trades, atomic)
        assert len(m.settlement.decode_events(r, "TradeAlreadySettled")) == 3
        assert m.settlement.decode_events(r, "TradeSettled") == []
    assert (m.bal("enterprise", CEA), m.cash_of("enterprise2")) == before
    # the same id twice in one batch settles once
    dup = _trade(m, "T-dup", qty=1)
    r = _settle(m, [dup, dup], True)
    assert len(m.settlement.decode_events(r, "TradeSettled")) == 1
    assert len(m.settlement.decode_events(r, "TradeAlreadySettled")) == 1


def test_a_batch_with_one_bad_trade_reverts_whole_in_atomic_mode(m: Market) -> None:
    _setup_trading(m)
    trades = [_trade(m, "A-1"), _trade(m, "A-2", qty=5_000), _trade(m, "A-3")]
    e = m.refused(m.settlement.functions.settle([t.as_tuple() for t in trades], True), "exchange", "TradeFailed")
    assert e.args_ == (1, _tid(m, trades[1]), Reason.SELLER_LACKS_ASSET)
    # mined anyway (no pre-flight): it reverts and nothing moves
    r = m.client.send([Call.of(m.settlement.functions.settle([t.as_tuple() for t in trades], True), m.acct["exchange"],
                               gas=2_000_000)], raise_on_revert=False)[0]
    assert r.status == 0
    assert m.bal("enterprise2", CEA) == 0 and m.call(m.settlement.functions.settledAt(_tid(m, trades[0]))) == 0


def test_a_batch_with_one_bad_trade_skips_it_in_skip_mode(m: Market) -> None:
    _setup_trading(m)
    trades = [_trade(m, "S-1"), _trade(m, "S-2", qty=5_000), _trade(m, "S-3")]
    r = _settle(m, trades, False)
    skipped = m.settlement.decode_events(r, "TradeSkipped")
    assert [(s.tradeId, s.reasonCode) for s in skipped] == [(_tid(m, trades[1]), Reason.SELLER_LACKS_ASSET)]
    assert len(m.settlement.decode_events(r, "TradeSettled")) == 2
    assert m.bal("enterprise2", CEA) == 20
    assert m.call(m.settlement.functions.settledAt(_tid(m, trades[1]))) == 0
    # a skipped trade may be resubmitted once it can settle
    m.issue_cea("enterprise", 5_000)
    m.deposit("enterprise2", 50_000_000)
    r = _settle(m, trades, False)
    assert len(m.settlement.decode_events(r, "TradeAlreadySettled")) == 2
    assert len(m.settlement.decode_events(r, "TradeSettled")) == 1


def test_every_reason_code_is_reported_and_nothing_moves_for_a_refused_trade(m: Market) -> None:
    _setup_trading(m, fen=100_000)
    m.issue_cea("enterprise2", 10)
    ex = m.settlement.functions
    cases = [
        (_trade(m, "R-q0", qty=0), Reason.ZERO_QUANTITY),
        (_trade(m, "R-p0", price=0), Reason.ZERO_PRICE),
        (_trade(m, "R-same", buyer="enterprise"), Reason.SAME_PARTY),
        (_trade(m, "R-ovf", qty=2**128), Reason.AMOUNT_OVERFLOW),
        (_trade(m, "R-ovf2", qty=2**127, price=2**127, bfee=2**256 - 2**254), Reason.AMOUNT_OVERFLOW),
        (_trade(m, "R-sna", seller="outsider"), Reason.SELLER_NOT_ADMITTED),
        (_trade(m, "R-bna", buyer="outsider"), Reason.BUYER_NOT_ADMITTED),
        (_trade(m, "R-asset", asset=CEA | 7), Reason.MALFORMED_ASSET),
        (_trade(m, "R-lack", qty=1_001), Reason.SELLER_LACKS_ASSET),
        (_trade(m, "R-cash", qty=11, price=10_000), Reason.BUYER_LACKS_CASH),
        (_trade(m, "R-cash2", qty=10, price=10_000, bfee=1), Reason.BUYER_LACKS_CASH),
        (_trade(m, "R-sfee", qty=1, price=10, sfee=11), Reason.SELLER_FEE_EXCEEDS_PROCEEDS),
    ]
    for t, code in cases:
        assert m.call(ex.check(t.as_tuple())).reasonCode == code, t
        e = m.refused(ex.settle([t.as_tuple()], True), "exchange", "TradeFailed")
        assert e.args_ == (0, _tid(m, t), code)
    r = _settle(m, [t for t, _ in cases], False)
    assert [s.reasonCode for s in m.settlement.decode_events(r, "TradeSkipped")] == [c for _, c in cases]
    assert (m.bal("enterprise", CEA), m.bal("enterprise2", CEA), m.cash_of("enterprise2")) == (1_000, 10, 100_000)
    # frozen parties, pause, missing fee account
    a = m.assets.functions
    m.tx(a.freeze(m.acct["enterprise"], "decision"), "regulator")
    assert m.call(ex.check(_trade(m, "F-1").as_tuple())).reasonCode == Reason.SELLER_FROZEN
    assert m.call(ex.check(_trade(m, "F-2", seller="enterprise2", buyer="enterprise", qty=1, price=1).as_tuple())).reasonCode == Reason.BUYER_FROZEN
    m.tx(a.unfreeze(m.acct["enterprise"], "lifted"), "regulator")
    m.tx(a.pause(), "regulator")
    assert m.call(ex.check(_trade(m, "P-1").as_tuple())).reasonCode == Reason.PAUSED
    m.tx(a.unpause(), "regulator")
    m.tx(ex.setFeeAccount("0x" + "00" * 20), "exchange")
    assert m.call(ex.check(_trade(m, "FEE-1", bfee=1).as_tuple())).reasonCode == Reason.FEE_ACCOUNT_UNAVAILABLE
    assert m.call(ex.check(_trade(m, "FEE-2").as_tuple())).reasonCode == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(qty=st.one_of(st.integers(1, 10**6), st.integers(1, 2**129)), price=st.one_of(st.integers(1, 10**7), st.integers(1, 2**129)),
       bfee=st.one_of(st.just(0), st.integers(0, 2**256 - 1)))
def test_trade_value_matches_the_python_mirror(m: Market, qty: int, price: int, bfee: int) -> None:
    """Settlement.check's value (fen) equals Trade.value_fen, and the overflow rule agrees."""
    t = _trade(m, "V", qty, price, bfee=bfee)
    chk = m.call(m.settlement.functions.check(t.as_tuple()))
    code, value = chk.reasonCode, chk.valueFen
    overflow = qty >= 2**128 or price >= 2**128 or t.value_fen + bfee >= 2**256
    assert (code == Reason.AMOUNT_OVERFLOW) == overflow
    if not overflow:
        assert value == t.value_fen


def test_reason_codes_match_the_contract_constants(m: Market) -> None:
    for reason in Reason:
        assert m.call(getattr(m.settlement.functions, f"REASON_{reason.name}")()) == reason.value


def test_frozen_account_cannot_settle(m: Market) -> None:
    _setup_trading(m)
    m.tx(m.assets.functions.freeze(m.acct["enterprise2"], "decision"), "regulator")
    e = m.refused(m.settlement.functions.settle([_trade(m, "FZ").as_tuple()], True), "exchange", "TradeFailed")
    assert e.args_[2] == Reason.BUYER_FROZEN
    r = _settle(m, [_trade(m, "FZ")], False)
    assert m.settlement.decode_events(r, "TradeSkipped")[0].reasonCode == Reason.BUYER_FROZEN
    assert m.bal("enterprise2", CEA) == 0


def test_set_fee_account_refuses_an_unadmitted_account(m: Market) -> None:
    m.refused(m.settlement.functions.setFeeAccount(m.acct["outsider"]), "exchange", "NotAdmitted")
    r = m.tx(m.settlement.functions.setFeeAccount(m.acct["exchange"]), "exchange")
    assert m.settlement.decode_events(r, "FeeAccountSet")[0].account.lower() == m.acct["exchange"].lower()
    assert m.call(m.settlement.functions.feeAccount()).lower() == m.acct["exchange"].lower()


def test_ccer_trades_settle_like_cea(m: Market) -> None:
    m.issue_batch(100)
    m.deposit("enterprise", 1_000_000)
    _settle(m, [_trade(m, "C-1", qty=40, price=6_500, seller="owner", buyer="enterprise", asset=CCER)], True)
    assert (m.bal("owner", CCER), m.bal("enterprise", CCER), m.cash_of("owner")) == (60, 40, 260_000)


def test_one_hundred_trades_settle_in_one_transaction_well_within_the_block_gas_limit(m: Market) -> None:
    _setup_trading(m, cea=10_000, fen=10**12)
    m.deposit("enterprise", 10**12)
    m.issue_cea("enterprise2", 10_000)
    trades = [_trade(m, f"B-{i}", qty=1 + i % 7, price=9_000 + i, bfee=5, sfee=5,
                     seller="enterprise" if i % 2 else "enterprise2", buyer="enterprise2" if i % 2 else "enterprise")
              for i in range(100)]
    r = _settle(m, trades, True)
    assert len(m.settlement.decode_events(r, "TradeSettled")) == 100
    assert r.gas_used < 15_000_000, r.gas_used
    assert m.cash_of("exchange") == 1_000


def _run(m: Market, batch_id: int) -> tuple[int, int]:
    """CCERRegistry.nextFreeRun(batch) as (runStart, runEnd)."""
    r = m.call(m.registry.functions.nextFreeRun(batch_id))
    return r.runStart, r.runEnd
