"""Declared activity data and confirmed totals (EmissionsRegistry), Allocation and Compliance on a
real Anvil node: access control, bad input, the allocation true-up with clawback and debt, the
obligation rules, CCER cap and eligibility, deadline, shortfall, penalty and deduction, and the
Python mirrors of every formula (bit-identical, Hypothesis)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.accounting.assets import ccer_id, cea_id
from ledger.accounting.compliance import (
    BENCHMARKS_2019_2020,
    CITATION_FIELDS,
    PERIOD_FIELDS,
    PERIOD_PRESETS,
    allocation_tonnes,
    category_id,
    ccer_cap,
    emissions_tonnes,
    obligation_tonnes,
    penalty_range_fen,
    pre_allocation_tonnes,
)
from ledger.accounting.emissions import fuel_co2_code, fuel_emissions_kg
from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ContractRevert
from ledger.contracts._generated import Allocation, CarbonAssets, CCERRegistry, Compliance
from ledger.contracts.deploy import deploy_compliance
from ledger.crypto.primitives import keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.offsets.serials import (
    NO_SERIALS,
    SERIAL_STATUSES,
    SerialBook,
    SerialRange,
    SerialsRefused,
    SurrenderedSerials,
)
from tests.conftest import USCC, World

YEAR = 2021
ELEC, HEAT, FUEL = 2, 3, 4  # EmissionsRegistry.ActivityType
COAL = b"COAL".ljust(32, b"\0")
#: Default coal CO2 factor derived from cited values: 0.03085 tC/GJ (MEE 2022 notice, CONFIRMED-S)
#: × 99 % oxidation (PARTIAL) × 44/12 = 111.9855 kgCO2/GJ → × 1e6.
COAL_FACTOR = 111_985_500
EV = keccak256(b"evidence")
REPORT = keccak256(b"verification report")
ZERO32 = bytes(32)
ZERO_ADDR = "0x" + "00" * 20
GAS_CAT, COAL_CAT = category_id("GAS"), category_id("COAL_GT300")
BENCH = {b.category: b.as_input() for b in BENCHMARKS_2019_2020.benchmarks}


# ----------------------------------------------------------------------------- fixtures, helpers
@pytest.fixture(scope="module")
def sysm(world: World, artifacts: dict[str, Any]) -> SimpleNamespace:
    """CarbonAssets + Allocation + Compliance on the session world, a fuel factor set for
    2019–2030, and a 2019–2030 benchmark set (2019–2020 plan values) with both world enterprises
    enrolled (enterprise: COAL_GT300, enterprise2: GAS)."""
    w, d, c = world, world.dep, world.client
    reg = w.acct["regulator"]
    assets_addr = c.deploy(reg, artifacts["CarbonAssets"].abi, artifacts["CarbonAssets"].bytecode, d.participants.address)
    addresses = {"ParticipantRegistry": d.participants.address, "EmissionsRegistry": d.emissions.address,
                 "CarbonAssets": assets_addr}
    ccer_registry = None
    if "CCERRegistry" in artifacts:  # the real registry once feat/assets is merged
        addresses["CCERRegistry"] = ccer_registry = _deploy_ccer_registry(w, artifacts, assets_addr)
    out = deploy_compliance(c, artifacts, reg, addresses)
    assets = CarbonAssets(c, assets_addr)
    alloc = Allocation(c, out["Allocation"])
    comp = Compliance(c, out["Compliance"])
    res = w.tx(d.factors.functions.publishFactorSet(2019, 2030, [fuel_co2_code(COAL)], [COAL_FACTOR], [6],
                                                  "0.03085 tC/GJ (MEE notice 8 Jun 2022) × 99% × 44/12", "coal"), "regulator")
    fuel_set = d.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
    res = w.tx(alloc.functions.publishBenchmarkSet(2019, 2030, 7000, list(BENCH.values()), BENCHMARKS_2019_2020.citation), "regulator")
    bench_set = alloc.decode_events(res, "BenchmarkSetPublished")[0].setId
    e1, e2 = org_id(USCC["enterprise"]), org_id(USCC["enterprise2"])
    c.send([Call.of(alloc.functions.enrol(e1, COAL_CAT, w.acct["enterprise"]), reg),
            Call.of(alloc.functions.enrol(e2, GAS_CAT, w.acct["enterprise2"]), reg)])
    # a third enterprise account-holder to receive transfers, and a CCER issuer EOA for tests
    ccer_issuer_role = bytes(c.call(assets.functions.CCER_ISSUER_ROLE()))
    c.send([Call.of(assets.functions.grantOperator(ccer_issuer_role, w.acct["regulator"]), reg)])
    registry = CCERRegistry(c, ccer_registry) if ccer_registry else None
    return SimpleNamespace(w=w, d=d, c=c, assets=assets, alloc=alloc, comp=comp, fuel_set=fuel_set, bench_set=bench_set,
                           e1=e1, e2=e2, ccer_registry=ccer_registry, registry=registry, artifacts=artifacts)


def _deploy_ccer_registry(w: World, artifacts: dict[str, Any], assets_addr: str) -> str:
    """Deploy the real CCERRegistry, grant it CCER_ISSUER_ROLE and admit a REGISTRY_ROLE
    organisation ("ccer-registry") that registers projects and issues batches in the tests."""
    c, reg = w.client, w.acct["regulator"]
    a = artifacts["CCERRegistry"]
    addr = c.deploy(reg, a.abi, a.bytecode, w.dep.participants.address, assets_addr, ZERO_ADDR,  # no GenerationClaims
                    label="deploy CCERRegistry")
    assets = CarbonAssets(c, assets_addr)
    c.send([assets.grantOperator(assets.CCER_ISSUER_ROLE(), addr, sender=reg)])
    if "ccer-registry" not in w.acct:
        key = new_private_key()
        w.keys["ccer-registry"], w.acct["ccer-registry"] = key, c.add_account(key)
        set_balances(c, [w.acct["ccer-registry"]])
        uscc = make_uscc("9", "1", "110102", "MA08RG01")
        c.send([Call.of(w.dep.participants.functions.admit(org_id(uscc), w.dep.role("REGISTRY_ROLE"), uscc_bytes32(uscc),
                                                           28800, w.acct["ccer-registry"], "test CCER registry"), reg)])
    return addr


@pytest.fixture()
def s(sysm: SimpleNamespace, chain: World) -> SimpleNamespace:
    """The module's system, reverted after each test (chain's evm_snapshot)."""
    return sysm


def refused(s: SimpleNamespace, fn: Any, who: str, error: str) -> ContractRevert:
    """Assert that ``who`` calling ``fn`` is refused (pre-flight) with custom error ``error``."""
    with pytest.raises(ContractRevert) as exc:
        s.c.preflight([Call.of(fn, s.w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def now(s: SimpleNamespace) -> int:
    return int(s.c.w3.eth.get_block("latest")["timestamp"])


def travel_to(s: SimpleNamespace, t: int) -> None:
    """Mine the next block at UTC second ``t`` (must be in the future)."""
    s.c.rpc("evm_setNextBlockTimestamp", hex(t))
    s.c.rpc("evm_mine")


def org_of(s: SimpleNamespace, who: str) -> bytes:
    return {"enterprise": s.e1, "enterprise2": s.e2}[who]


def assign_fuel_set(s: SimpleNamespace, who: str, year: int = YEAR) -> None:
    """The regulator assigns the module's fuel factor set to ``who``'s year (once)."""
    em = s.d.emissions.functions
    if not s.c.call(em.assignedFactorSet(org_of(s, who), year)):
        s.w.tx(em.assignFactorSet(org_of(s, who), year, s.fuel_set), "regulator")


def enrol_sources(s: SimpleNamespace, who: str, sources: list[tuple[int, bytes]], year: int = YEAR) -> None:
    """The regulator enrols ``sources`` ((activity type, subject)) of ``who``'s year."""
    s.w.tx(s.d.emissions.functions.enrolSources(org_of(s, who), year, [k for k, _ in sources], [x for _, x in sources]),
           "regulator")


def declare(s: SimpleNamespace, who: str, kind: int, amount: int, year: int = YEAR, month: int = 0,
            subject: bytes = ZERO32, amends: int = 0) -> int:
    fset = s.fuel_set if kind == FUEL else 0
    if kind == FUEL:
        assign_fuel_set(s, who, year)
    subject = COAL if kind == FUEL and subject == ZERO32 else subject
    res = s.w.tx(s.d.emissions.functions.recordDeclared(kind, subject, year, month, amount, fset, EV, amends), who)
    return s.d.emissions.decode_events(res, "ActivityRecorded")[0].recordId


def to_verified(s: SimpleNamespace, who: str, rids: list[int]) -> None:
    f, a = s.d.emissions.functions, s.w.acct
    s.c.send([Call.of(f.submit(r), a[who]) for r in rids])
    s.c.send([Call.of(f.assignVerifier(r, a["verifier"]), a["regulator"]) for r in rids])
    s.c.send([Call.of(f.attest(r, REPORT, ZERO32), a["verifier"]) for r in rids])


def confirm_all(s: SimpleNamespace, who: str, rids: list[int]) -> None:
    to_verified(s, who, rids)
    s.c.send([Call.of(s.d.emissions.functions.confirm(r), s.w.acct["regulator"]) for r in rids])


def confirmed_year(s: SimpleNamespace, who: str, wh: int = 0, heat_mj: int = 0, fuel_mj: int = 0, year: int = YEAR) -> None:
    kinds = [(k, v) for k, v in ((ELEC, wh), (HEAT, heat_mj), (FUEL, fuel_mj)) if v]
    enrol_sources(s, who, [(k, COAL if k == FUEL else ZERO32) for k, _ in kinds], year)
    rids = [declare(s, who, k, v, year) for k, v in kinds]
    confirm_all(s, who, rids)


def fuel_mj_for_tonnes(t: int) -> int:
    """Fuel heat input (MJ) whose coal emissions round to exactly ``t`` tonnes."""
    mj = t * 1_000 * 10**9 // COAL_FACTOR
    while emissions_tonnes(fuel_emissions_kg(mj, COAL_FACTOR)) < t:
        mj += 1
    assert emissions_tonnes(fuel_emissions_kg(mj, COAL_FACTOR)) == t
    return mj


def balance(s: SimpleNamespace, who: str, token: int) -> int:
    return int(s.c.call(s.assets.functions.balanceOf(s.w.acct[who], token)))


def entry(s: SimpleNamespace, ent: bytes, year: int = YEAR) -> dict[str, Any]:
    e = s.alloc.entry(year, ent).as_dict()
    if e["finalised"]:  # the net entitlement identity
        assert e["finalAllocation"] - e["deduction"] == e["preAllocation"] + e["finalIssued"] - e["clawedBack"] - e["debt"]
    return e


def status(s: SimpleNamespace, ent: bytes, year: int = YEAR) -> dict[str, Any]:
    return s.comp.status(year, ent).as_dict()


def assert_supply_invariant(s: SimpleNamespace, token: int) -> None:
    sup = s.assets.supplyOf(token)
    total = s.assets.totalSupply_uint256(token)
    assert total + sup.retired + sup.surrendered + sup.cancelled + sup.clawedBack == sup.issued


def period_params(s: SimpleNamespace, deadline: int, **over: Any) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    p = dict(PERIOD_PRESETS[YEAR].params)
    p.update(deadline=deadline, ceaVintageFrom=YEAR, ceaVintageTo=YEAR + 1, ccerVintageFrom=2015, ccerVintageTo=YEAR,
             projectRegisteredTo=0)
    p.update(over)
    return tuple(p[k] for k in PERIOD_FIELDS), PERIOD_PRESETS[YEAR].citations_tuple()


def open_period(s: SimpleNamespace, deadline: int, year: int = YEAR, **over: Any) -> None:
    params, cites = period_params(s, deadline, **over)
    s.w.tx(s.comp.functions.openPeriod(year, params, cites), "regulator")


def allocate(s: SimpleNamespace, who: str, ent: bytes, basis_wh: int, basis_mj: int = 0, year: int = YEAR) -> None:
    s.w.tx(s.alloc.functions.preAllocate(year, s.bench_set, ent, basis_wh, basis_mj, EV), "regulator")


def setup_enterprise(s: SimpleNamespace, who: str, ent: bytes, basis_wh: int, wh: int, fuel_t: int, heat_mj: int = 0,
                     year: int = YEAR) -> None:
    """Pre-allocate, confirm a year of data (electricity supplied, heat, fuel for ``fuel_t`` t), final-allocate."""
    allocate(s, who, ent, basis_wh, year=year)
    confirmed_year(s, who, wh=wh, heat_mj=heat_mj, fuel_mj=fuel_mj_for_tonnes(fuel_t) if fuel_t else 0, year=year)
    s.w.tx(s.alloc.functions.finalAllocate(year, ent), "regulator")


# ============================================================================= EmissionsRegistry
def test_declared_records_flow_into_confirmed_totals(s: SimpleNamespace) -> None:
    e1 = s.e1
    elec = declare(s, "enterprise", ELEC, 5_000_000_000)                 # annual, Wh
    heat1 = declare(s, "enterprise", HEAT, 700_000, month=1)              # monthly, MJ
    heat2 = declare(s, "enterprise", HEAT, 300_001, month=2)
    fuel = declare(s, "enterprise", FUEL, 12_345_678)                     # MJ
    rec = s.d.emissions.record(fuel)
    assert rec.source == 2 and rec.emissionsKg == fuel_emissions_kg(12_345_678, COAL_FACTOR) and rec.factorValue == COAL_FACTOR
    confirm_all(s, "enterprise", [elec, heat1, fuel])
    to_verified(s, "enterprise", [heat2])                                 # verified, not confirmed: not counted
    t = s.d.emissions.confirmedTotals(e1, YEAR)
    assert (t.emissionsKgTotal, t.electricitySuppliedWh, t.heatSuppliedMJ, t.confirmedRecords) == (
        fuel_emissions_kg(12_345_678, COAL_FACTOR), 5_000_000_000, 700_000, 3)
    zero = {"emissionsKgTotal": 0, "electricitySuppliedWh": 0, "heatSuppliedMJ": 0, "confirmedRecords": 0}
    assert s.d.emissions.confirmedTotals(e1, YEAR + 1).as_dict() == zero
    assert s.d.emissions.confirmedTotals(s.e2, YEAR).as_dict() == zero


def test_confirmed_record_cannot_be_amended_so_totals_never_double_count(s: SimpleNamespace) -> None:
    f = s.d.emissions.functions
    first = declare(s, "enterprise", ELEC, 1_000)
    s.w.tx(f.submit(first), "enterprise")
    s.w.tx(f.assignVerifier(first, s.w.acct["verifier"]), "regulator")
    s.w.tx(f.reject(first, REPORT, keccak256(b"findings")), "verifier")
    second = declare(s, "enterprise", ELEC, 2_000, amends=first)          # amends the Rejected record
    confirm_all(s, "enterprise", [second])
    refused(s, f.recordDeclared(ELEC, ZERO32, YEAR, 0, 3_000, 0, EV, second), "enterprise", "CannotAmend")
    refused(s, f.submit(first), "enterprise", "RecordAmended")
    t = s.c.call(f.confirmedTotals(s.e1, YEAR))
    assert (t.electricitySuppliedWh, t.heatSuppliedMJ, t.confirmedRecords) == (2_000, 0, 1)
    refused(s, f.confirm(second), "regulator", "InvalidStatus")          # confirming twice is impossible


def test_annual_and_monthly_records_of_one_key_cannot_be_mixed(s: SimpleNamespace) -> None:
    f = s.d.emissions.functions
    declare(s, "enterprise", HEAT, 10, month=0)
    refused(s, f.recordDeclared(HEAT, ZERO32, YEAR, 3, 10, 0, EV, 0), "enterprise", "GranularityConflict")
    declare(s, "enterprise", HEAT, 10, month=3, subject=keccak256(b"unit-2"))  # another unit may be monthly
    declare(s, "enterprise", FUEL, 10, month=5)
    refused(s, f.recordDeclared(FUEL, COAL, YEAR, 0, 10, s.fuel_set, EV, 0), "enterprise", "GranularityConflict")


def test_record_declared_refuses_bad_input(s: SimpleNamespace) -> None:
    f, w = s.d.emissions.functions, s.w
    bad = [
        (f.recordDeclared(1, ZERO32, YEAR, 0, 10, 0, EV, 0), "NotDeclarable"),          # PurchasedElectricity
        (f.recordDeclared(0, ZERO32, YEAR, 0, 10, 0, EV, 0), "NotDeclarable"),
        (f.recordDeclared(ELEC, ZERO32, YEAR, 0, 0, 0, EV, 0), "ZeroAmount"),
        (f.recordDeclared(ELEC, ZERO32, YEAR, 0, 10, 0, ZERO32, 0), "MissingEvidenceHash"),
        (f.recordDeclared(ELEC, ZERO32, YEAR, 13, 10, 0, EV, 0), "InvalidPeriod"),
        (f.recordDeclared(ELEC, ZERO32, 1970, 0, 10, 0, EV, 0), "InvalidPeriod"),
        (f.recordDeclared(ELEC, ZERO32, YEAR, 0, 10, s.fuel_set, EV, 0), "UnexpectedFactorSet"),
        (f.recordDeclared(FUEL, ZERO32, YEAR, 0, 10, s.fuel_set, EV, 0), "MissingFuelCode"),
        (f.recordDeclared(FUEL, COAL, 2008, 0, 10, s.fuel_set, EV, 0), "FactorSetNotApplicable"),
        (f.recordDeclared(FUEL, COAL, YEAR, 0, 10, 99, EV, 0), "FactorSetNotApplicable"),
        (f.recordDeclared(FUEL, b"OIL".ljust(32, b"\0"), YEAR, 0, 10, s.fuel_set, EV, 0), "FactorMissing"),
        (f.recordDeclared(ELEC, ZERO32, YEAR, 0, 10, 0, EV, 7), "NoRecordToAmend"),
    ]
    for fn, err in bad:
        refused(s, fn, "enterprise", err)
    res = w.tx(s.d.factors.functions.publishFactorSet(2021, 2021, [fuel_co2_code(COAL)], [111_985], [3], "scale 3 test", "x"), "regulator")
    wrong_scale = s.d.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
    refused(s, f.recordDeclared(FUEL, COAL, YEAR, 0, 10, wrong_scale, EV, 0), "enterprise", "FactorScaleMismatch")
    first = declare(s, "enterprise", ELEC, 10)
    refused(s, f.recordDeclared(ELEC, ZERO32, YEAR, 0, 10, 0, EV, 0), "enterprise", "RecordExists")
    assert first > 0


def test_record_declared_refuses_outsider_and_wrong_role(s: SimpleNamespace) -> None:
    fn = s.d.emissions.functions.recordDeclared(ELEC, ZERO32, YEAR, 0, 10, 0, EV, 0)
    for who in ("outsider", "verifier", "regulator"):
        refused(s, fn, who, "NotActiveParticipant")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mj=st.integers(0, 10**15), factor=st.integers(0, 10**12))
def test_fuel_formula_python_mirror_is_bit_identical(sysm: SimpleNamespace, mj: int, factor: int) -> None:
    assert sysm.c.call(sysm.d.emissions.functions.fuelEmissionsKg(mj, factor)) == fuel_emissions_kg(mj, factor)


def test_fuel_factor_code_python_mirror_matches(sysm: SimpleNamespace) -> None:
    for fuel in (COAL, b"NATURAL_GAS".ljust(32, b"\0"), keccak256(b"x")):
        assert bytes(sysm.c.call(sysm.d.emissions.functions.fuelFactorCode(fuel))) == fuel_co2_code(fuel)


# ============================================================================= Allocation
def test_deploy_compliance_wires_the_operator_roles(s: SimpleNamespace) -> None:
    a, f = s.assets.functions, s.alloc.functions
    assert s.c.call(a.isOperator(s.c.call(a.CEA_ISSUER_ROLE()), s.alloc.address))
    assert s.c.call(a.isOperator(s.c.call(a.COMPLIANCE_ROLE()), s.comp.address))
    assert not s.c.call(a.isOperator(s.c.call(a.CEA_ISSUER_ROLE()), s.comp.address))
    assert s.c.call(f.compliance()).lower() == s.comp.address.lower()
    assert s.c.call(s.comp.functions.allocation()).lower() == s.alloc.address.lower()
    res = s.w.tx(f.setComplianceContract(s.w.acct["outsider"]), "regulator")
    assert s.alloc.decode_events(res, "ComplianceContractSet")[0].compliance.lower() == s.w.acct["outsider"].lower()
    assert s.c.call(f.compliance()).lower() == s.w.acct["outsider"].lower()


def test_allocation_refuses_outsider_and_wrong_role_on_every_mutating_function(s: SimpleNamespace) -> None:
    f, a = s.alloc.functions, s.w.acct
    cases = [
        f.publishBenchmarkSet(2021, 2021, 7000, [BENCH["GAS"]], "c"),
        f.enrol(s.e1, COAL_CAT, a["enterprise"]),
        f.enrolBatch([s.e1], [COAL_CAT], [a["enterprise"]]),
        f.preAllocate(YEAR, s.bench_set, s.e1, 1, 0, EV),
        f.preAllocateBatch(YEAR, s.bench_set, [s.e1], [1], [0], [EV]),
        f.finalAllocate(YEAR, s.e1),
        f.finalAllocateBatch(YEAR, [s.e1]),
        f.recoverDebt(YEAR, s.e1),
    ]
    for fn in cases:
        for who in ("outsider", "enterprise", "verifier"):
            refused(s, fn, who, "NotRegulator")
    for who in ("outsider", "enterprise", "verifier"):       # constitutional (DESIGN.md "Governance")
        refused(s, f.setComplianceContract(a["outsider"]), who, "NotConstitution")
    for who in ("outsider", "regulator", "enterprise"):
        refused(s, f.recordDeduction(YEAR, s.e1, 1), who, "NotCompliance")


def test_publish_benchmark_set_refuses_bad_input(s: SimpleNamespace) -> None:
    f = s.alloc.functions
    g = BENCH["GAS"]
    cases = [
        (f.publishBenchmarkSet(2021, 2021, 7000, [g], ""), "MissingCitation"),
        (f.publishBenchmarkSet(0, 2021, 7000, [g], "c"), "InvalidYearRange"),
        (f.publishBenchmarkSet(2022, 2021, 7000, [g], "c"), "InvalidYearRange"),
        (f.publishBenchmarkSet(2021, 2021, 0, [g], "c"), "InvalidPreAllocationBps"),
        (f.publishBenchmarkSet(2021, 2021, 10_001, [g], "c"), "InvalidPreAllocationBps"),
        (f.publishBenchmarkSet(2021, 2021, 7000, [], "c"), "NoCategories"),
        (f.publishBenchmarkSet(2021, 2021, 7000, [(ZERO32, 1, 1, 1, False)], "c"), "InvalidCategory"),
        (f.publishBenchmarkSet(2021, 2021, 7000, [g, g], "c"), "DuplicateCategory"),
        (f.publishBenchmarkSet(2021, 2021, 7000, [(GAS_CAT, 0, 1, 1, True)], "c"), "InvalidBenchmark"),
        (f.publishBenchmarkSet(2021, 2021, 7000, [(GAS_CAT, 1, 1, 0, True)], "c"), "InvalidBenchmark"),
        (f.setComplianceContract(ZERO_ADDR), "ZeroValue"),
    ]
    for fn, err in cases:
        refused(s, fn, "regulator", err)


def test_benchmark_set_is_published_immutable_with_its_values(s: SimpleNamespace) -> None:
    bs = s.alloc.benchmarkSet(s.bench_set)
    assert (bs.fromYear, bs.toYear, bs.preAllocationBps, bs.publisher) == (2019, 2030, 7000, s.w.acct["regulator"])
    assert bs.citationHash == keccak256(BENCHMARKS_2019_2020.citation.encode())
    assert list(bs.categories) == [category_id(b.category) for b in BENCHMARKS_2019_2020.benchmarks]
    coal, gas = s.alloc.benchmark(s.bench_set, COAL_CAT), s.alloc.benchmark(s.bench_set, GAS_CAT)
    assert (coal.supplyBenchmark, coal.heatBenchmark, coal.correctionFactor, coal.gasUnit) == (877_000, 126_000, 1_000_000, False)
    assert (gas.supplyBenchmark, gas.heatBenchmark, gas.correctionFactor, gas.gasUnit) == (392_000, 59_000, 1_000_000, True)
    refused(s, s.alloc.functions.benchmark(s.bench_set, category_id("NOPE")), "outsider", "CategoryNotInSet")
    refused(s, s.alloc.functions.benchmarkSet(99), "outsider", "UnknownBenchmarkSet")


def test_enrol_and_pre_allocate_refuse_bad_input(s: SimpleNamespace) -> None:
    f, a = s.alloc.functions, s.w.acct
    stranger = org_id(make_uscc("9", "1", "110108", "MA99XY01"))
    cases = [
        (f.enrol(s.e1, ZERO32, a["enterprise"]), "InvalidCategory"),
        (f.enrol(s.e1, COAL_CAT, a["enterprise2"]), "InvalidHoldingAccount"),   # another org's account
        (f.enrol(s.e1, COAL_CAT, a["outsider"]), "InvalidHoldingAccount"),
        (f.enrol(org_id(USCC["verifier"]), COAL_CAT, a["verifier"]), "InvalidHoldingAccount"),  # not an enterprise
        (f.enrolBatch([s.e1], [COAL_CAT, GAS_CAT], [a["enterprise"]]), "InvalidBatch"),
        (f.enrolBatch([], [], []), "InvalidBatch"),
        (f.preAllocate(YEAR, 99, s.e1, 1, 0, EV), "UnknownBenchmarkSet"),
        (f.preAllocate(2018, s.bench_set, s.e1, 1, 0, EV), "SetNotApplicable"),
        (f.preAllocate(YEAR, s.bench_set, stranger, 1, 0, EV), "NotEnrolled"),
        (f.preAllocateBatch(YEAR, s.bench_set, [s.e1, s.e2], [1], [0, 0], [EV, EV]), "InvalidBatch"),
        (f.preAllocateBatch(YEAR, s.bench_set, [], [], [], []), "InvalidBatch"),
        (f.finalAllocate(YEAR, s.e1), "NotPreAllocated"),
        (f.finalAllocateBatch(YEAR, []), "InvalidBatch"),
        (f.recoverDebt(YEAR, s.e1), "NoDebt"),
    ]
    for fn, err in cases:
        refused(s, fn, "regulator", err)
    res = s.w.tx(f.publishBenchmarkSet(2021, 2021, 7000, [BENCH["GAS"]], "gas only"), "regulator")
    gas_only = s.alloc.decode_events(res, "BenchmarkSetPublished")[0].setId
    refused(s, f.preAllocate(YEAR, gas_only, s.e1, 1, 0, EV), "regulator", "CategoryNotInSet")
    allocate(s, "enterprise", s.e1, 10**9)
    refused(s, f.preAllocate(YEAR, s.bench_set, s.e1, 1, 0, EV), "regulator", "AlreadyPreAllocated")
    refused(s, f.finalAllocate(YEAR, s.e1), "regulator", "EmissionsNotConfirmed")
    declare(s, "enterprise", ELEC, 10)                                    # Draft only: still not confirmed
    refused(s, f.finalAllocate(YEAR, s.e1), "regulator", "EmissionsNotConfirmed")


def test_pre_allocation_then_final_allocation_issues_the_difference(s: SimpleNamespace) -> None:
    basis_wh, wh, heat = 2_000_000_000_000, 2_500_000_000_123, 3_000_000_000   # 2,000 GWh; 2,500 GWh; 3 PJ
    allocate(s, "enterprise", s.e1, basis_wh, 1_000_000_000)
    pre = pre_allocation_tonnes(basis_wh, 1_000_000_000, 877_000, 126_000, 1_000_000, 7000)
    assert pre == round(0.7 * (2_000_000 * 0.877 + 1_000_000 * 0.126))
    token = cea_id(YEAR)
    assert balance(s, "enterprise", token) == pre
    confirmed_year(s, "enterprise", wh=wh, heat_mj=heat, fuel_mj=fuel_mj_for_tonnes(2_000_000))
    res = s.w.tx(s.alloc.functions.finalAllocate(YEAR, s.e1), "regulator")
    final = allocation_tonnes(wh, heat, 877_000, 126_000, 1_000_000)
    ev = s.alloc.decode_events(res, "FinalAllocated")[0]
    assert ev.finalAllocation == final and ev.issuedNow == final - pre and ev.clawbackRequested == 0
    assert balance(s, "enterprise", token) == final
    e = entry(s, s.e1)
    assert (e["finalised"], e["preAllocation"] + e["finalIssued"], e["debt"]) == (True, final, 0)
    assert (ev.electricityWh, ev.heatMJ) == (wh, heat)
    refused(s, s.alloc.functions.finalAllocate(YEAR, s.e1), "regulator", "AlreadyFinalised")
    assert_supply_invariant(s, token)


def test_final_below_pre_allocation_claws_back_and_beyond_holdings_records_debt(s: SimpleNamespace) -> None:
    token = cea_id(YEAR)
    allocate(s, "enterprise", s.e1, 3_000_000_000_000)                     # pre = 0.7 × 3,000,000 × 0.877
    pre = pre_allocation_tonnes(3_000_000_000_000, 0, 877_000, 0, 1_000_000, 7000)
    # the enterprise sells most of its pre-allocation before the true-up
    sold = pre - 1_000
    s.w.tx(s.assets.functions.safeTransferFrom(s.w.acct["enterprise"], s.w.acct["enterprise2"], token, sold, b""), "enterprise")
    confirmed_year(s, "enterprise", wh=1_000_000_000_000, fuel_mj=fuel_mj_for_tonnes(900_000))
    final = allocation_tonnes(1_000_000_000_000, 0, 877_000, 126_000, 1_000_000)
    res = s.w.tx(s.alloc.functions.finalAllocate(YEAR, s.e1), "regulator")
    owed = pre - final
    ev = s.alloc.decode_events(res, "FinalAllocated")[0]
    assert (ev.clawbackRequested, ev.clawedBackNow) == (owed, 1_000)
    debt = s.alloc.decode_events(res, "DebtRecorded")[0]
    assert (debt.amount, debt.debt) == (owed - 1_000, owed - 1_000)
    assert balance(s, "enterprise", token) == 0                           # never negative
    assert entry(s, s.e1)["debt"] == owed - 1_000
    assert_supply_invariant(s, token)
    # the enterprise buys some back; the regulator recovers what it now holds
    s.w.tx(s.assets.functions.safeTransferFrom(s.w.acct["enterprise2"], s.w.acct["enterprise"], token, 5_000, b""), "enterprise2")
    res = s.w.tx(s.alloc.functions.recoverDebt(YEAR, s.e1), "regulator")
    rec = s.alloc.decode_events(res, "DebtRecovered")[0]
    assert (rec.amount, rec.debt) == (5_000, owed - 6_000)
    assert balance(s, "enterprise", token) == 0
    assert_supply_invariant(s, token)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wh=st.integers(0, 10**14), mj=st.integers(0, 10**12), bs=st.integers(0, 2 * 10**6), bh=st.integers(0, 10**6),
       c=st.integers(0, 2 * 10**6), bps=st.integers(0, 10_000))
def test_allocation_formulas_python_mirror_is_bit_identical(sysm: SimpleNamespace, wh: int, mj: int, bs: int, bh: int,
                                                           c: int, bps: int) -> None:
    f = sysm.alloc.functions
    assert sysm.c.call(f.allocationTonnes(wh, mj, bs, bh, c)) == allocation_tonnes(wh, mj, bs, bh, c)
    assert sysm.c.call(f.preAllocationTonnes(wh, mj, bs, bh, c, bps)) == pre_allocation_tonnes(wh, mj, bs, bh, c, bps)


def test_allocation_rounds_half_up_to_whole_tonnes(sysm: SimpleNamespace) -> None:
    f = sysm.alloc.functions
    # 0.5 t exactly: 1 MWh × 0.5 tCO2/MWh → rounds up; 0.499999 t → down
    assert sysm.c.call(f.allocationTonnes(1_000_000, 0, 500_000, 0, 1_000_000)) == 1
    assert sysm.c.call(f.allocationTonnes(999_998, 0, 500_000, 0, 1_000_000)) == 0


# ============================================================================= Compliance
def test_compliance_refuses_outsider_and_wrong_role_on_every_mutating_function(s: SimpleNamespace) -> None:
    f = s.comp.functions
    params, cites = period_params(s, now(s) + 1000)
    for fn in (f.openPeriod(YEAR, params, cites), f.publishPrice(YEAR, 9800, "c"), f.close(YEAR, s.e1),
               f.closeBatch(YEAR, [s.e1]), f.markRefusesToCorrect(s.e1, YEAR)):
        for who in ("outsider", "enterprise", "verifier"):
            refused(s, fn, who, "NotRegulator")
    for who in ("outsider", "verifier", "regulator"):
        refused(s, f.surrender(YEAR, cea_id(YEAR), 1), who, "NotActiveParticipant")


def test_open_period_refuses_bad_input(s: SimpleNamespace) -> None:
    f = s.comp.functions
    t = now(s) + 1000
    bad_params = [
        ({"deadline": 0}, "InvalidParameter"),
        ({"gapCapBps": 10_001}, "InvalidParameter"),
        ({"ccerCapBps": 10_001}, "InvalidParameter"),
        ({"ceaVintageFrom": 0}, "InvalidParameter"),
        ({"ceaVintageFrom": 2023, "ceaVintageTo": 2022}, "InvalidParameter"),
        ({"ccerVintageFrom": 2023, "ccerVintageTo": 2022}, "InvalidParameter"),
        ({"projectRegisteredFrom": 10, "projectRegisteredTo": 5}, "InvalidParameter"),
        ({"creditingStartFrom": 10, "creditingStartTo": 5}, "InvalidParameter"),
    ]
    for over, err in bad_params:
        params, cites = period_params(s, over.pop("deadline", t), **over)
        refused(s, f.openPeriod(YEAR, params, cites), "regulator", err)
    params, cites = period_params(s, t)
    refused(s, f.openPeriod(0, params, cites), "regulator", "InvalidParameter")
    for i, name in enumerate(CITATION_FIELDS):
        c = list(cites)
        c[i] = ""
        e = refused(s, f.openPeriod(YEAR, params, tuple(c)), "regulator", "MissingCitation")
        assert e.args_[0] == name
    refused(s, f.publishPrice(YEAR, 9800, "c"), "regulator", "PeriodNotOpen")
    refused(s, f.close(YEAR, s.e1), "regulator", "PeriodNotOpen")
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1), "enterprise", "PeriodNotOpen")
    s.w.tx(f.openPeriod(YEAR, params, cites), "regulator")
    refused(s, f.openPeriod(YEAR, params, cites), "regulator", "PeriodExists")
    refused(s, f.publishPrice(YEAR, 0, "c"), "regulator", "ZeroAmount")
    refused(s, f.publishPrice(YEAR, 9800, ""), "regulator", "MissingCitation")
    s.w.tx(f.publishPrice(YEAR, 9800, "SEEE monthly average"), "regulator")
    refused(s, f.publishPrice(YEAR, 9900, "again"), "regulator", "PriceAlreadyPublished")
    per = s.c.call(f.period(YEAR))
    assert per.opened and per.priceFen == 9800 and per.params.as_dict() == dict(zip(PERIOD_FIELDS, params))


def test_surrender_refuses_bad_input_and_needs_the_final_allocation(s: SimpleNamespace) -> None:
    f = s.comp.functions
    open_period(s, now(s) + 10_000)
    allocate(s, "enterprise", s.e1, 10**12)
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1), "enterprise", "AllocationNotFinal")
    confirmed_year(s, "enterprise", wh=10**12, fuel_mj=fuel_mj_for_tonnes(1_000_000))
    s.w.tx(s.alloc.functions.finalAllocate(YEAR, s.e1), "regulator")
    refused(s, f.surrender(YEAR, cea_id(YEAR), 0), "enterprise", "ZeroAmount")
    refused(s, f.surrender(YEAR, cea_id(2020), 1), "enterprise", "IneligibleVintage")      # before the range
    refused(s, f.surrender(YEAR, cea_id(2023), 1), "enterprise", "IneligibleVintage")      # after the range
    refused(s, f.surrender(YEAR, (3 << 248) | (YEAR << 232), 1), "enterprise", "IneligibleVintage")  # malformed class
    refused(s, f.surrender(YEAR, cea_id(YEAR), 10**9), "enterprise", "ExceedsObligation")
    refused(s, f.close(YEAR, s.e1), "regulator", "DeadlineNotPassed")


def test_obligation_cap_limits_what_is_owed_to_allocation_plus_20_percent(s: SimpleNamespace) -> None:
    open_period(s, now(s) + 10_000)
    # coal unit: A ≈ 877,000 t; E = 1,500,000 t → A + ⌊0.2 E⌋ = A + 300,000 < E
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_500_000)
    row = status(s, s.e1)
    a = allocation_tonnes(10**12, 0, 877_000, 126_000, 1_000_000)
    assert (row["emissionsT"], row["allocationT"]) == (1_500_000, a)
    assert row["obligation"] == a + 300_000 == obligation_tonnes(1_500_000, a, 2000, True, False) < 1_500_000
    assert row["ccerCap"] == (a + 300_000) * 5 // 100
    # surrendering exactly the obligation is accepted; one tonne more is not
    s.w.tx(s.comp.functions.surrender(YEAR, cea_id(YEAR), a), "enterprise")
    token = cea_id(YEAR + 1)
    allocate(s, "enterprise", s.e1, 10**12, year=YEAR + 1)              # CEA of YEAR+1 is eligible in this period
    s.w.tx(s.comp.functions.surrender(YEAR, token, 300_000), "enterprise")
    refused(s, s.comp.functions.surrender(YEAR, token, 1), "enterprise", "ExceedsObligation")
    assert status(s, s.e1)["shortfall"] == 0
    assert_supply_invariant(s, cea_id(YEAR))


def test_gas_units_owe_at_most_their_allocation(s: SimpleNamespace) -> None:
    open_period(s, now(s) + 10_000)
    setup_enterprise(s, "enterprise2", s.e2, 10**12, 10**12, 500_000)    # gas: A = 392,000 t < E
    a = allocation_tonnes(10**12, 0, 392_000, 59_000, 1_000_000)
    row = status(s, s.e2)
    assert row["obligation"] == a == 392_000 == obligation_tonnes(500_000, a, 2000, True, True)
    # the same gas unit under a period without the gas rule owes the gap-capped amount
    open_period(s, now(s) + 10_000, year=YEAR + 1, gasCapToAllocation=False, ceaVintageFrom=YEAR + 1, ceaVintageTo=YEAR + 1)
    setup_enterprise(s, "enterprise2", s.e2, 10**12, 10**12, 500_000, year=YEAR + 1)
    assert status(s, s.e2, YEAR + 1)["obligation"] == a + 100_000


def test_without_caps_the_obligation_is_the_verified_emissions(s: SimpleNamespace) -> None:
    open_period(s, now(s) + 10_000, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_500_000)
    assert status(s, s.e1)["obligation"] == 1_500_000


def test_e_is_whole_tonnes_rounded_half_up_from_kg(s: SimpleNamespace) -> None:
    f = s.comp.functions
    for kg, t in ((0, 0), (499, 0), (500, 1), (1_499, 1), (1_500, 2), (865_300_499, 865_300)):
        assert s.c.call(f.emissionsTonnes(kg)) == t == emissions_tonnes(kg)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(e=st.integers(0, 10**10), a=st.integers(0, 10**10), gap=st.integers(0, 10_000), gas_rule=st.booleans(),
       gas=st.booleans(), ccer_bps=st.integers(0, 10_000), price=st.integers(0, 10**6))
def test_compliance_formulas_python_mirror_is_bit_identical(sysm: SimpleNamespace, e: int, a: int, gap: int, gas_rule: bool,
                                                           gas: bool, ccer_bps: int, price: int) -> None:
    f = sysm.comp.functions
    ob = sysm.c.call(f.obligationOf(e, a, gap, gas_rule, gas))
    assert ob == obligation_tonnes(e, a, gap, gas_rule, gas)
    assert sysm.c.call(f.ccerCap(ob, ccer_bps)) == ccer_cap(ob, ccer_bps)
    pr = sysm.c.call(f.penaltyRange(e, price))
    assert (pr.minFen, pr.maxFen) == penalty_range_fen(e, price)


def test_penalty_arithmetic_matches_the_shizuishan_worked_example(sysm: SimpleNamespace) -> None:
    """china_rules.md §4: 865,300 t × CNY 98.00 × 5 = CNY 423,997,000 (石嘴山市生态环境局)."""
    pr = sysm.comp.penaltyRange(865_300, 9_800)
    lo, hi = pr.minFen, pr.maxFen
    assert lo == 42_399_700_000 == 423_997_000 * 100 and hi == 2 * lo
    assert penalty_range_fen(865_300, 9_800) == (lo, hi)


def test_shortfall_is_recorded_with_penalty_and_deduction_applied_to_next_year(s: SimpleNamespace) -> None:
    f = s.comp.functions
    deadline = now(s) + 10_000
    open_period(s, deadline, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 865_300 + 500_000)   # E = 1,365,300 t
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 500_000), "enterprise")               # 865,300 t missing
    travel_to(s, deadline + 1)
    refused(s, f.close(YEAR, s.e1), "regulator", "PriceNotPublished")
    s.w.tx(f.publishPrice(YEAR, 9_800, "SEEE certified average of the month before the deadline"), "regulator")
    res = s.w.tx(f.close(YEAR, s.e1), "regulator")
    ev = s.comp.decode_events(res, "ShortfallRecorded")[0]
    assert (ev.shortfall, ev.penaltyMinFen, ev.penaltyMaxFen) == (865_300, 42_399_700_000, 84_799_400_000)
    row = status(s, s.e1)
    assert (row["status"], row["shortfall"], row["shortfallAtClose"], row["deduction"], row["deductionAmount"]) == (2, 865_300, 865_300, 1, 865_300)
    refused(s, f.close(YEAR, s.e1), "regulator", "AlreadyClosed")
    # the regulator marks refusal to correct: 1:1 deduction from YEAR+1, applied at its final allocation
    res = s.w.tx(f.markRefusesToCorrect(s.e1, YEAR), "regulator")
    assert s.alloc.decode_events(res, "DeductionRecorded")[0].amount == 865_300
    assert status(s, s.e1)["deduction"] == 2
    refused(s, f.markRefusesToCorrect(s.e1, YEAR), "regulator", "NoPendingDeduction")
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1), "enterprise", "SurrenderClosed")  # no late correction now
    next_token = cea_id(YEAR + 1)
    setup_enterprise(s, "enterprise", s.e1, 2 * 10**12, 2 * 10**12, 100, year=YEAR + 1)
    final_next = allocation_tonnes(2 * 10**12, 0, 877_000, 126_000, 1_000_000)
    e = entry(s, s.e1, YEAR + 1)
    assert e["deduction"] == 865_300 and e["preAllocation"] + e["finalIssued"] - e["clawedBack"] == final_next - 865_300 and e["debt"] == 0
    assert balance(s, "enterprise", next_token) == final_next - 865_300
    assert_supply_invariant(s, next_token)


def test_deduction_after_next_year_is_final_is_clawed_back_at_once(s: SimpleNamespace) -> None:
    f = s.comp.functions
    deadline = now(s) + 10_000
    open_period(s, deadline, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_000)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_000, year=YEAR + 1)
    before = balance(s, "enterprise", cea_id(YEAR + 1))
    travel_to(s, deadline + 1)
    s.w.tx(f.publishPrice(YEAR, 9_800, "avg"), "regulator")
    s.w.tx(f.close(YEAR, s.e1), "regulator")
    res = s.w.tx(f.markRefusesToCorrect(s.e1, YEAR), "regulator")
    assert s.alloc.decode_events(res, "DeductionRecorded")[0].appliedNow is True
    assert balance(s, "enterprise", cea_id(YEAR + 1)) == before - 1_000
    assert entry(s, s.e1, YEAR + 1)["clawedBack"] == 1_000


def test_surrender_after_the_deadline_only_as_late_correction_of_a_shortfall(s: SimpleNamespace) -> None:
    f = s.comp.functions
    deadline = now(s) + 10_000
    open_period(s, deadline, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 400_000)
    setup_enterprise(s, "enterprise2", s.e2, 10**12, 10**12, 300_000)
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 300_000), "enterprise2")              # gas unit: compliant
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 399_000), "enterprise")               # 1,000 t short
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 1), "enterprise")                     # at the deadline: still open
    travel_to(s, deadline + 1)
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1), "enterprise", "SurrenderClosed")    # not closed yet
    s.w.tx(f.publishPrice(YEAR, 9_800, "avg"), "regulator")
    res = s.w.tx(f.closeBatch(YEAR, [s.e1, s.e2]), "regulator")
    closed = {e.enterprise: e for e in s.comp.decode_events(res, "PeriodClosed")}
    assert closed[s.e2].status == 1 and closed[s.e1].status == 2
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1), "enterprise2", "SurrenderClosed")   # compliant: nothing to do
    refused(s, f.surrender(YEAR, cea_id(YEAR), 1_000), "enterprise", "ExceedsObligation")
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 500), "enterprise")
    assert status(s, s.e1)["status"] == 2 and status(s, s.e1)["shortfall"] == 499
    res = s.w.tx(f.surrender(YEAR, cea_id(YEAR), 499), "enterprise")
    assert s.comp.decode_events(res, "CorrectedLate")
    row = status(s, s.e1)
    assert (row["status"], row["deduction"], row["shortfall"], row["shortfallAtClose"]) == (3, 3, 0, 999)
    assert (row["penaltyMinFen"], row["penaltyMaxFen"]) == penalty_range_fen(999, 9_800)   # the penalty stays
    refused(s, f.markRefusesToCorrect(s.e1, YEAR), "regulator", "NoPendingDeduction")
    rows = s.c.call(f.statusTable(YEAR, [s.e1, s.e2]))
    assert [r.status for r in rows] == [3, 1]
    assert_supply_invariant(s, cea_id(YEAR))


def test_close_refuses_enterprise_without_final_allocation(s: SimpleNamespace) -> None:
    f = s.comp.functions
    deadline = now(s) + 100
    open_period(s, deadline)
    travel_to(s, deadline + 1)
    s.w.tx(f.publishPrice(YEAR, 9_800, "avg"), "regulator")
    refused(s, f.close(YEAR, s.e1), "regulator", "AllocationNotFinal")
    refused(s, f.closeBatch(YEAR, []), "regulator", "EmptyBatch")


def test_surrendered_units_leave_circulation_and_are_counted(s: SimpleNamespace) -> None:
    open_period(s, now(s) + 10_000)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 100_000)
    token = cea_id(YEAR)
    before = int(s.c.call(s.assets.functions.totalSupply_uint256(token)))
    res = s.w.tx(s.comp.functions.surrender(YEAR, token, 60_000), "enterprise")
    assert int(s.c.call(s.assets.functions.totalSupply_uint256(token))) == before - 60_000
    assert s.assets.supplyOf(token).surrendered == 60_000
    ev = s.assets.decode_events(res, "Surrendered")[0]
    assert ev.amount == 60_000 and ev.ref == (YEAR).to_bytes(32, "big")
    assert status(s, s.e1)["ceaSurrendered"] == 60_000
    assert_supply_invariant(s, token)


def test_frozen_account_cannot_surrender(s: SimpleNamespace) -> None:
    open_period(s, now(s) + 10_000)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 100_000)
    s.w.tx(s.assets.functions.freeze(s.w.acct["enterprise"], "enforcement 1"), "regulator")
    refused(s, s.comp.functions.surrender(YEAR, cea_id(YEAR), 1), "enterprise", "AccountIsFrozen")


# ----------------------------------------------------------------------------- CCER
def test_ccer_is_refused_when_no_registry_is_wired(s: SimpleNamespace) -> None:
    """The CCER-less variant: Allocation and Compliance deployed without a CCERRegistry (address 0)
    beside the module's (wired) ones; a CCER token held by the enterprise cannot be surrendered."""
    reg = s.w.acct["regulator"]
    out = deploy_compliance(s.c, s.artifacts, reg, {"ParticipantRegistry": s.d.participants.address,
                                                     "EmissionsRegistry": s.d.emissions.address,
                                                     "CarbonAssets": s.assets.address})
    alloc, comp = Allocation(s.c, out["Allocation"]), Compliance(s.c, out["Compliance"])
    assert comp.ccerRegistry() == ZERO_ADDR
    res = s.w.tx(alloc.functions.publishBenchmarkSet(2019, 2030, 7000, list(BENCH.values()), BENCHMARKS_2019_2020.citation),
                 "regulator")
    bench_set = alloc.decode_events(res, "BenchmarkSetPublished")[0].setId
    s.w.tx(alloc.functions.enrol(s.e1, COAL_CAT, s.w.acct["enterprise"]), "regulator")
    t = SimpleNamespace(**{**vars(s), "alloc": alloc, "comp": comp, "bench_set": bench_set, "ccer_registry": None})
    open_period(t, now(t) + 10_000)
    setup_enterprise(t, "enterprise", t.e1, 10**12, 10**12, 100_000)
    s.w.tx(s.assets.functions.issue(s.w.acct["enterprise"], ccer_id(2020, 7), 10, EV), "regulator")
    e = refused(t, comp.functions.surrender(YEAR, ccer_id(2020, 7), 1), "enterprise", "IneligibleVintage")
    assert e.args_ == (YEAR, ccer_id(2020, 7), 2020)
    s.w.tx(comp.functions.surrender(YEAR, cea_id(YEAR), 1), "enterprise")      # CEA still surrenders there


def test_presets_carry_a_citation_for_every_parameter_and_mark_unconfirmed_values() -> None:
    for year, p in PERIOD_PRESETS.items():
        assert set(p.params) == set(PERIOD_FIELDS) and all(p.citations[k] for k in CITATION_FIELDS)
        assert p.params["gapCapBps"] == 2000 and p.params["ccerCapBps"] == 500 and p.params["gasCapToAllocation"]
        assert "ceaVintages" in p.unconfirmed and "UNCONFIRMED" in p.citations["ceaVintages"]
        assert p.params["ceaVintageFrom"] <= year <= p.params["ceaVintageTo"]
    assert PERIOD_PRESETS[2019].params["deadline"] == 1_640_941_200              # 2021-12-31 17:00 +08:00
    assert "UNCONFIRMED" in BENCHMARKS_2019_2020.citation


def test_preset_period_can_be_opened_on_chain(s: SimpleNamespace) -> None:
    p = PERIOD_PRESETS[2019]
    s.w.tx(s.comp.functions.openPeriod(2019, p.params_tuple(), p.citations_tuple()), "regulator")
    assert s.comp.period(2019).params.as_dict() == dict(p.params)


def needs_registry(s: SimpleNamespace) -> None:
    """The module's system has the real CCERRegistry wired (it is deployed whenever compiled)."""
    assert s.ccer_registry, "CCERRegistry was not compiled"


T_REG, T_CREDIT = 1_600_000_000, 1_600_761_600       # 2020-09-13Z, 2020-09-22Z (test dates)


def ccer_project(s: SimpleNamespace, number: int, vintage: int, amount: int, registered_at: int = T_REG,
                 crediting_start: int = T_CREDIT, owner: str = "enterprise") -> int:
    """Register CCER project ``number`` (owner: ``owner``'s account) and issue ``amount`` t of
    ``vintage`` to it through the real CCERRegistry; returns the token id."""
    f = s.registry.functions
    if not s.c.call(f.projectDates(number)).registered:
        s.w.tx(f.registerProject(number, s.w.acct[owner], keccak256(b"CCER-14-001-V01"), b"110000".ljust(32, b"\0"),
                                 registered_at, crediting_start, f"project {number}"), "ccer-registry")
    s.w.tx(f.issueBatch(number, vintage, amount, "", 0, 0, keccak256(b"issuance")), "ccer-registry")
    return ccer_id(vintage, number)


def test_ccer_cap_at_its_boundary(s: SimpleNamespace) -> None:
    needs_registry(s)
    f = s.comp.functions
    open_period(s, now(s) + 10_000, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_000_019)            # obligation = E = 1,000,019 t
    cap = 1_000_019 * 5 // 100
    assert cap == 50_000 == status(s, s.e1)["ccerCap"] == ccer_cap(1_000_019, 500)
    token = ccer_project(s, 11, 2020, 60_000)
    refused(s, f.surrender(YEAR, token, cap + 1), "enterprise", "CcerCapExceeded")       # one tonne more: refused
    s.w.tx(f.surrender(YEAR, token, cap - 1), "enterprise")
    s.w.tx(f.surrender(YEAR, token, 1), "enterprise")                                     # exactly the cap: accepted
    e = refused(s, f.surrender(YEAR, token, 1), "enterprise", "CcerCapExceeded")
    assert e.args_ == (cap, cap, 1)
    s.w.tx(f.surrender(YEAR, cea_id(YEAR), 1_000_019 - cap - 100_000), "enterprise")   # CEA still counts toward E
    row = status(s, s.e1)
    assert (row["ccerSurrendered"], row["ceaSurrendered"], row["shortfall"]) == (cap, 1_000_019 - cap - 100_000, 100_000)
    supply = s.assets.supplyOf(token)
    assert supply.surrendered == cap
    assert_supply_invariant(s, token)


def test_ccer_vintage_and_project_date_eligibility(s: SimpleNamespace) -> None:
    needs_registry(s)
    f = s.comp.functions
    open_period(s, now(s) + 10_000, ccerVintageFrom=2016, ccerVintageTo=2021,
                projectRegisteredFrom=T_REG - 86_400, projectRegisteredTo=T_REG + 86_400, creditingStartFrom=T_CREDIT)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_000_000)
    ok = ccer_project(s, 21, 2021, 10)
    too_new = ccer_project(s, 21, 2022, 10)
    too_old = ccer_project(s, 21, 2015, 10)
    late_reg = ccer_project(s, 22, 2020, 10, registered_at=T_REG + 86_401)
    early_reg = ccer_project(s, 23, 2020, 10, registered_at=T_REG - 86_401)
    early_credit = ccer_project(s, 24, 2020, 10, crediting_start=T_CREDIT - 1)
    s.w.tx(s.assets.functions.issue(s.w.acct["enterprise"], ccer_id(2020, 99), 10, EV), "regulator")  # no registry entry
    refused(s, f.surrender(YEAR, too_new, 1), "enterprise", "IneligibleVintage")
    refused(s, f.surrender(YEAR, too_old, 1), "enterprise", "IneligibleVintage")
    for token in (late_reg, early_reg, early_credit, ccer_id(2020, 99)):
        refused(s, f.surrender(YEAR, token, 1), "enterprise", "IneligibleProject")
    s.w.tx(f.surrender(YEAR, ok, 10), "enterprise")
    # bounds are inclusive
    edge = ccer_project(s, 25, 2020, 1, registered_at=T_REG + 86_400, crediting_start=T_CREDIT)
    s.w.tx(f.surrender(YEAR, edge, 1), "enterprise")
    assert status(s, s.e1)["ccerSurrendered"] == 11


def ccer_batch(s: SimpleNamespace, number: int, vintage: int, amount: int, serials: SerialRange = NO_SERIALS) -> int:
    """Register project ``number`` (owner: enterprise) if needed and issue one batch of ``amount``
    t of ``vintage`` with ``serials`` through the real CCERRegistry; returns the batch id."""
    f = s.registry.functions
    if not s.c.call(f.projectDates(number)).registered:
        s.w.tx(f.registerProject(number, s.w.acct["enterprise"], keccak256(b"CCER-14-001-V01"), b"110000".ljust(32, b"\0"),
                                 T_REG, T_CREDIT, f"project {number}"), "ccer-registry")
    res = s.w.tx(f.issueBatch(number, vintage, amount, serials.prefix, serials.start, serials.end, keccak256(b"issuance")),
                 "ccer-registry")
    return s.registry.decode_events(res, "BatchIssued")[0].batchId


def _surrender_pieces(s: SimpleNamespace, res: Any) -> list[SurrenderedSerials]:
    """The SerialsSurrendered events of a surrender transaction as the mirror's pieces."""
    out = []
    for ev in s.registry.decode_events(res, "SerialsSurrendered"):
        prefix = {keccak256(p.encode()): p for p in PREFIXES}.get(bytes(ev.serialPrefix), "")
        out.append(SurrenderedSerials(ev.batchId, ev.amount, SerialRange(prefix, ev.serialStart, ev.serialEnd)))
    return out


PREFIXES = ("CCER-CN-41-2020-", "CCER-CN-32-2020-")


def test_ccer_surrender_marks_the_serials_oldest_batch_first(s: SimpleNamespace) -> None:
    """Issue 12: a CCER surrender marks its serials Surrendered in the registry — the oldest batch
    of the token id first, its lowest active serials first (a batch without serials by count) —
    read back per serial and range equal to the Python mirror; a second claim of those serials
    (an explicit retirement) is refused SerialsAlreadySurrendered, a cancellation takes the next
    active serials, and the 5 % cap still counts the surrendered CCER."""
    needs_registry(s)
    f, r = s.comp.functions, s.registry.functions
    open_period(s, now(s) + 10_000, gapCapBps=0, gasCapToAllocation=False)
    setup_enterprise(s, "enterprise", s.e1, 10**12, 10**12, 1_000_019)            # cap 50,000 t
    p = PREFIXES[0]
    token, h = ccer_id(2020, 41), keccak256(p.encode())
    book = SerialBook()
    a = ccer_batch(s, 41, 2020, 100, SerialRange(p, 1, 100))
    other = ccer_batch(s, 41, 2021, 30, SerialRange(p, 301, 330))                  # same project, other vintage
    b = ccer_batch(s, 41, 2020, 50)                                                # without serials
    c = ccer_batch(s, 41, 2020, 200, SerialRange(p, 101, 300))
    for bid, rng, amt, asset in ((a, SerialRange(p, 1, 100), 100, token), (other, SerialRange(p, 301, 330), 30, ccer_id(2021, 41)),
                                 (b, NO_SERIALS, 50, token), (c, SerialRange(p, 101, 300), 200, token)):
        book.issue(bid, rng, amt, asset)
    assert list(s.c.call(r.batchesOf(41, 2020))) == [c, b, a]                     # newest first
    owner = s.w.acct["enterprise"]
    s.w.tx(r.retire((owner, a, 10, "", 0, 0, "Beneficiary", "Purpose", "")), "enterprise")   # serials 1…10 retired
    book.retire(a, 10)
    res = s.w.tx(f.surrender(YEAR, token, 150), "enterprise")
    want = book.surrender(token, 150)
    assert _surrender_pieces(s, res) == want
    assert [(x.batch_id, x.amount, x.serials.start, x.serials.end) for x in want] == [(a, 90, 11, 100), (b, 50, 0, 0), (c, 10, 101, 110)]
    assert all(ev.ref == (YEAR).to_bytes(32, "big") and ev.holder == owner
               for ev in s.registry.decode_events(res, "SerialsSurrendered"))
    assert [s.registry.batch(x).retired for x in (a, b, c, other)] == [100, 50, 10, 0]
    # read back: per serial, with the merged run around it (surrendered 11…110 spans batches a and c)
    for serial in (1, 10, 11, 100, 101, 110, 111, 300, 301, 331, 5_000):
        st = s.c.call(r.serialState(h, serial))
        assert (SERIAL_STATUSES[st.status], st.runStart, st.runEnd) == book.serial_state(p, serial), serial
    assert book.serial_state(p, 50) == ("surrendered", 11, 110) and book.serial_state(p, 5) == ("retired", 1, 10)
    ov = s.c.call(r.retiredOverlap(h, 60, 60))
    assert (ov.found, ov.otherStart, ov.otherEnd) == (True, 11, 110)
    # a second claim of surrendered serials is refused with the named error
    e = refused(s, r.retire((owner, c, 2, p, 105, 106, "Beneficiary", "Purpose", "")), "enterprise", "SerialsAlreadySurrendered")
    assert e.args_[1:] == (105, 106, 11, 110)
    with pytest.raises(SerialsRefused, match="SerialsAlreadySurrendered"):
        book.retire(c, 2, SerialRange(p, 105, 106))
    # a cancellation takes the next active serials, never the surrendered ones
    res = s.w.tx(r.cancel(c, 5, keccak256(b"other registry")), "enterprise")
    ev = s.registry.decode_events(res, "CreditsCancelled")[0]
    assert (ev.serialStart, ev.serialEnd) == (111, 115)
    assert book.retire(c, 5, status="cancelled") == SerialRange(p, 111, 115)
    st = s.c.call(r.serialState(h, 113))
    assert (SERIAL_STATUSES[st.status], st.runStart, st.runEnd) == book.serial_state(p, 113) == ("cancelled", 111, 115)
    refused(s, r.retire((owner, c, 1, p, 115, 115, "Beneficiary", "Purpose", "")), "enterprise", "SerialsAlreadyRetired")
    # the cap still holds: 150 surrendered, 49,850 left of 50,000
    assert status(s, s.e1)["ccerSurrendered"] == 150
    more = ccer_batch(s, 41, 2020, 60_000)
    book.issue(more, NO_SERIALS, 60_000, token)
    refused(s, f.surrender(YEAR, token, 49_851), "enterprise", "CcerCapExceeded")
    res = s.w.tx(f.surrender(YEAR, token, 49_850), "enterprise")
    assert _surrender_pieces(s, res) == book.surrender(token, 49_850)              # the rest of c by serials, then `more`
    assert s.registry.batch(c).retired == 200 and s.registry.batch(more).retired == 49_850 - 185
    assert_supply_invariant(s, token)
    assert s.assets.supplyOf(token).surrendered == 50_000


def test_record_surrender_refuses_outsiders_and_bad_input(s: SimpleNamespace) -> None:
    """CCERRegistry.recordSurrender: only a contract with CarbonAssets' COMPLIANCE_ROLE (here an
    EOA granted it for the test) — then a CCER id, an amount in 1…2^64-1, and units in the id's
    batches."""
    needs_registry(s)
    r = s.registry.functions
    a = ccer_batch(s, 42, 2020, 10, SerialRange("CCER-CN-42-2020-", 1, 10))
    assert a > 0
    token, owner = ccer_id(2020, 42), s.w.acct["enterprise"]
    for who in ("enterprise", "regulator", "ccer-registry"):
        refused(s, r.recordSurrender(owner, token, 1, ZERO32), who, "NotComplianceOperator")
    s.w.tx(s.assets.functions.grantOperator(bytes(s.c.call(s.assets.functions.COMPLIANCE_ROLE())), s.w.acct["regulator"]),
           "regulator")
    refused(s, r.recordSurrender(owner, cea_id(YEAR), 1, ZERO32), "regulator", "NotCcer")
    refused(s, r.recordSurrender(owner, token | (1 << 200), 1, ZERO32), "regulator", "NotCcer")      # reserved bits set
    refused(s, r.recordSurrender(owner, token, 0, ZERO32), "regulator", "InvalidAmount")
    refused(s, r.recordSurrender(owner, token, 2**64, ZERO32), "regulator", "InvalidAmount")
    e = refused(s, r.recordSurrender(owner, token, 11, ZERO32), "regulator", "UnitsNotInBatches")
    assert e.args_ == (token, 11, 10)
    refused(s, r.recordSurrender(owner, ccer_id(2020, 43), 1, ZERO32), "regulator", "UnitsNotInBatches")  # no batches
    with pytest.raises(SerialsRefused, match="UnitsNotInBatches"):
        SerialBook().surrender(token, 1)
    with pytest.raises(SerialsRefused, match="InvalidAmount"):
        SerialBook().surrender(token, 0)


# ----------------------------------------------------------------------------- gas
def _admit_enterprises(s: SimpleNamespace, n: int) -> list[tuple[bytes, str]]:
    """Admit ``n`` funded enterprises (org id, account) for the batch measurements."""
    reg, out, calls = s.w.acct["regulator"], [], []
    role = s.d.role("ENTERPRISE_ROLE")
    for i in range(n):
        uscc = make_uscc("9", "1", "110108", f"MB{i:06d}")
        acct = s.c.add_account(new_private_key())
        out.append((org_id(uscc), acct))
        calls.append(Call.of(s.d.participants.functions.admit(org_id(uscc), role, uscc_bytes32(uscc), 28800, acct, f"batch {i}"), reg))
    set_balances(s.c, [a for _, a in out])
    s.c.send(calls)
    return out


def test_gas_of_allocation_and_surrender(s: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    """Gas of preAllocate / finalAllocate (single and batch of 100) and of surrender (CEA, CCER).
    A batch of 100 must fit well inside a 30M block, so ~3,000 enterprises need ~60 transactions."""
    f, fa, reg = s.comp.functions, s.alloc.functions, s.w.acct["regulator"]
    gas: dict[str, int] = {}
    gas["preAllocate"] = s.w.tx(fa.preAllocate(YEAR, s.bench_set, s.e1, 10**12, 10**9, EV), "regulator").gas_used
    confirmed_year(s, "enterprise", wh=10**12, heat_mj=10**9, fuel_mj=fuel_mj_for_tonnes(1_000_000))
    gas["finalAllocate (issue)"] = s.w.tx(fa.finalAllocate(YEAR, s.e1), "regulator").gas_used
    open_period(s, now(s) + 100_000)
    gas["surrender CEA (first)"] = s.w.tx(f.surrender(YEAR, cea_id(YEAR), 1_000), "enterprise").gas_used
    gas["surrender CEA (again)"] = s.w.tx(f.surrender(YEAR, cea_id(YEAR), 1_000), "enterprise").gas_used
    if s.ccer_registry:
        token = ccer_project(s, 31, 2020, 1_000)
        gas["surrender CCER (first)"] = s.w.tx(f.surrender(YEAR, token, 100), "enterprise").gas_used
        gas["surrender CCER (again)"] = s.w.tx(f.surrender(YEAR, token, 100), "enterprise").gas_used
        ccer_batch(s, 32, 2020, 1_000, SerialRange("CCER-CN-32-2020-", 1, 1_000))
        serialled = ccer_id(2020, 32)
        gas["surrender CCER with serials (first)"] = s.w.tx(f.surrender(YEAR, serialled, 100), "enterprise").gas_used
        gas["surrender CCER with serials (again)"] = s.w.tx(f.surrender(YEAR, serialled, 100), "enterprise").gas_used

    ents = _admit_enterprises(s, 100)
    orgs, accts = [o for o, _ in ents], [a for _, a in ents]
    gas["enrolBatch x100"] = s.w.tx(fa.enrolBatch(orgs, [COAL_CAT] * 100, accts), "regulator").gas_used
    gas["preAllocateBatch x100"] = s.w.tx(fa.preAllocateBatch(YEAR, s.bench_set, orgs, [10**12 + i for i in range(100)],
                                                             [10**9] * 100, [EV] * 100), "regulator").gas_used
    em = s.d.emissions.functions
    s.c.send([Call.of(em.enrolSources(o, YEAR, [ELEC], [ZERO32]), reg) for o in orgs])   # each year's one source
    res = s.c.send([Call.of(em.recordDeclared(ELEC, ZERO32, YEAR, 0, 5 * 10**11 + i, 0, EV, 0), a) for i, a in enumerate(accts)])
    rids = [s.d.emissions.decode_events(r, "ActivityRecorded")[0].recordId for r in res]
    s.c.send([Call.of(em.submit(r), a) for r, a in zip(rids, accts)])
    s.c.send([Call.of(em.assignVerifier(r, s.w.acct["verifier"]), reg) for r in rids])
    s.c.send([Call.of(em.attest(r, REPORT, ZERO32), s.w.acct["verifier"]) for r in rids])
    s.c.send([Call.of(em.confirm(r), reg) for r in rids])
    gas["finalAllocateBatch x100 (clawback)"] = s.w.tx(fa.finalAllocateBatch(YEAR, orgs), "regulator").gas_used
    assert entry(s, orgs[7])["finalAllocation"] == allocation_tonnes(5 * 10**11 + 7, 0, 877_000, 126_000, 1_000_000)
    with capsys.disabled():
        print("\n" + "\n".join(f"  gas {k:<38} {v:>12,}" for k, v in gas.items()))
    assert gas["preAllocateBatch x100"] < 15_000_000 and gas["finalAllocateBatch x100 (clawback)"] < 15_000_000
    assert all(entry(s, o)["finalised"] for o in orgs[::10])
