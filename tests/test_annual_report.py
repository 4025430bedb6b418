"""Declared fuel combustion by the guideline's parameters and purchased heat (contract vs Python
mirror, bad input, outsiders), the annual report assembled from confirmed months, and the portal
endpoints for devices, declared data, reports and the compliance position — on a real Anvil."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.auth import issue_key
from ledger.accounting.emissions import (
    emissions_kg,
    fuel_cc_code,
    fuel_co2_code,
    fuel_co2_factor_scaled,
    fuel_heat_input_mj,
    fuel_of_code,
    guideline_fuel_emissions_kg,
    heat_ef_code,
    heat_emissions_kg,
)
from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, org_id
from ledger.records import annual_report as ar
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import USCC, World
from tests.helpers import DAY0, GAP_SUBSTITUTE_WH, all_days_but, declare_gap
from tests.test_contracts import anchor_day

COAL = ar.fuel_code("COAL")
GAS = ar.fuel_code("NATURAL_GAS")
#: Coal default carbon content per heat value 0.03085 tC/GJ (china_rules.md §1, CONFIRMED-S values:
#: MEE notice of 8 Jun 2022; Chinese number UNCONFIRMED), at tC/GJ × 1e9.
COAL_CC_DEFAULT = 30_850_000
#: Coal oxidation rate 99 % (china_rules.md §1, PARTIAL), × 1e6.
COAL_OF_DEFAULT = 990_000
DEFAULTS_CITATION = ("coal CC 0.03085 tC/GJ: MEE notice 8 Jun 2022 (china_rules.md §1, CONFIRMED-S values; number UNCONFIRMED); "
                     "coal OF 99%: china_rules.md §1 (PARTIAL)")
#: Test input only — china_rules.md holds no purchased-heat factor, so this is NOT an official value.
HEAT_EF_TEST_INPUT = 110_000
#: Test input only: a measured NCV (GJ/t × 1e6) as a lab report would give it.
NCV_MEASURED = 20_908_000
EVIDENCE = keccak256(b"evidence: fuel purchase records and lab report")
FEB = DAY0 + 31 * 86_400


def publish_defaults(w: World, heat: bool = True) -> int:
    """Factor set for 2006–2010 with the grid EF, the coal defaults (and the test EF_heat), assigned
    by the regulator to the enterprise's 2007 in place of the world's grid-only set (issue 12: one
    set per enterprise-year, re-assignable until a record uses it); returns its id."""
    codes, values, scales = [fuel_cc_code(COAL), fuel_of_code(COAL)], [COAL_CC_DEFAULT, COAL_OF_DEFAULT], [9, 6]
    if heat:
        codes, values, scales = codes + [heat_ef_code()], values + [HEAT_EF_TEST_INPUT], scales + [6]
    codes, values, scales = codes + [bytes(w.call(w.dep.factors.functions.GRID_EF()))], values + [5703], scales + [4]
    co2 = fuel_co2_factor_scaled(COAL_CC_DEFAULT, COAL_OF_DEFAULT)   # the heat-input path's coal factor, from the cited defaults
    codes, values, scales = codes + [fuel_co2_code(COAL)], values + [co2], scales + [6]
    res = w.tx(w.dep.factors.functions.publishFactorSet(2006, 2010, codes, values, scales, DEFAULTS_CITATION, "coal defaults + test heat EF"),
               "regulator")
    fs = int(w.dep.factors.decode_events(res, "FactorSetPublished")[0].factorSetId)
    w.tx(w.dep.emissions.functions.assignFactorSet(org_id(USCC["enterprise"]), 2007, fs), "regulator")
    return fs


def fuel(fs: int, **kw) -> tuple:
    d = dict(fuel=COAL, year=2007, month=1, consumption=1_000_000, ncv=NCV_MEASURED, carbon_content=0, oxidation_rate=0,
             factor_set_id=fs, evidence_hash=EVIDENCE, amends=0)
    d.update(kw)
    return ar.FuelDeclaration(**d).as_tuple()


def refused(w: World, fn, who: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as e:
        w.tx(fn, who)
    return e.value


def exact_half_up(num: Fraction) -> int:
    return int(num + Fraction(1, 2)) if num >= 0 else -1


# ------------------------------------------------------------------ formulas: contract vs Python
U64 = st.integers(0, 2**64 - 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fc=U64, ncv=U64, cc=U64, of=st.integers(0, 1_000_000))
@example(fc=1_000_000, ncv=NCV_MEASURED, cc=COAL_CC_DEFAULT, of=COAL_OF_DEFAULT)
@example(fc=3_000, ncv=10**6, cc=10**9, of=10**6)  # 3 t × 1 GJ/t × 1 tC/GJ × 1 × 44/12 = 11 t
@example(fc=2**64 - 1, ncv=2**64 - 1, cc=2**64 - 1, of=1_000_000)  # the largest input cannot overflow
def test_guideline_fuel_formulas_are_bit_identical_to_the_python_mirror(world: World, fc: int, ncv: int, cc: int, of: int) -> None:
    em = world.dep.emissions.functions
    assert world.call(em.guidelineFuelEmissionsKg(fc, ncv, cc, of)) == guideline_fuel_emissions_kg(fc, ncv, cc, of)
    assert world.call(em.fuelHeatInputMJ(fc, ncv)) == fuel_heat_input_mj(fc, ncv)
    assert world.call(em.fuelCo2Factor(cc, of)) == fuel_co2_factor_scaled(cc, of)
    assert world.call(em.heatEmissionsKg(fc, ncv)) == heat_emissions_kg(fc, ncv)
    # and both equal the exact rational formula rounded half up once (DESIGN.md §5/§6)
    exact = Fraction(fc, 1000) * Fraction(ncv, 10**6) * Fraction(cc, 10**9) * Fraction(of, 10**6) * Fraction(44, 12) * 1000
    assert guideline_fuel_emissions_kg(fc, ncv, cc, of) == exact_half_up(exact)


def test_the_formulas_round_half_up_exactly_at_the_half(world: World) -> None:
    em = world.dep.emissions.functions
    # 0.003 t × 0.5 GJ/t × 1 tC/GJ × 1 × 44/12 = 5.5 kg exactly → 6; a hair less → 5
    assert world.call(em.guidelineFuelEmissionsKg(3, 500_000, 10**9, 10**6)) == 6 == guideline_fuel_emissions_kg(3, 500_000, 10**9, 10**6)
    assert world.call(em.guidelineFuelEmissionsKg(3, 500_000, 10**9, 999_999)) == 5
    # 0.015 t × 1000 GJ/t × 1 tC/GJ × 0.05 × 44/12 = 2.75 t = 2750 kg, no rounding
    assert world.call(em.guidelineFuelEmissionsKg(15, 10**9, 10**9, 50_000)) == 2750
    # heat: 1 MJ × 0.5 tCO2/GJ = 0.5 kg → 1; 1 MJ × 0.499999 → 0
    assert world.call(em.heatEmissionsKg(1, 500_000)) == 1 == heat_emissions_kg(1, 500_000)
    assert world.call(em.heatEmissionsKg(1, 499_999)) == 0 == heat_emissions_kg(1, 499_999)
    # heat input: 0.001 t × 0.5 GJ/t = 0.5 MJ → 1
    assert world.call(em.fuelHeatInputMJ(1, 500_000)) == 1 == fuel_heat_input_mj(1, 500_000)
    with pytest.raises(ValueError):
        guideline_fuel_emissions_kg(-1, 1, 1, 1)


# ------------------------------------------------------------------ on-chain declarations
def test_fuel_is_recorded_with_measured_ncv_and_default_cc_and_of(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    fs = publish_defaults(w)
    res = w.tx(em.recordFuelCombustion(fuel(fs)), "enterprise")
    rid = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    rec = ar.records.record(w.dep, rid)
    want = guideline_fuel_emissions_kg(1_000_000, NCV_MEASURED, COAL_CC_DEFAULT, COAL_OF_DEFAULT)
    assert want == 2_341_393  # 1000 t × 20.908 GJ/t × 0.03085 tC/GJ × 0.99 × 44/12 = 2341.392834 t
    assert rec["emissionsKg"] == want and rec["activityType"] == ar.FUEL_COMBUSTION and rec["source"] == 2
    assert rec["activityAmount"] == fuel_heat_input_mj(1_000_000, NCV_MEASURED) == 20_908_000  # MJ
    assert rec["factorValue"] == fuel_co2_factor_scaled(COAL_CC_DEFAULT, COAL_OF_DEFAULT)
    assert rec["device"] == "0x" + COAL.hex() and rec["status"] == "draft"
    p = ar.fuel_parameters(w.dep, rid)
    assert p == {"consumption": 1_000_000, "ncv": NCV_MEASURED, "carbonContent": COAL_CC_DEFAULT, "oxidationRate": COAL_OF_DEFAULT,
                 "defaultsMask": 2 | 4}
    [ev] = w.dep.emissions.decode_events(res, "FuelParametersRecorded")
    assert ev.defaultsMask == 6 and ev.fuel == COAL
    [m] = w.dep.emissions.decode_events(res, "AcquisitionMethodRecorded")
    assert m.method == 1 == w.call(em.acquisitionMethod(rid))  # Calculation


def test_fuel_with_every_parameter_measured_needs_no_factor_set(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    res = w.tx(em.recordFuelCombustion(fuel(0, fuel=GAS, consumption=52_000, ncv=389_310_000, carbon_content=15_300_000,
                                            oxidation_rate=990_000)), "enterprise")
    rid = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    assert ar.records.record(w.dep, rid)["emissionsKg"] == guideline_fuel_emissions_kg(52_000, 389_310_000, 15_300_000, 990_000)
    assert ar.fuel_parameters(w.dep, rid)["defaultsMask"] == 0


def test_fuel_declarations_refuse_bad_input_outsiders_and_duplicates(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    fs = publish_defaults(w)
    cases = [
        (fuel(fs, fuel=bytes(32)), "MissingFuelCode"),
        (fuel(fs, consumption=0), "ZeroAmount"),
        (fuel(fs, evidence_hash=bytes(32)), "MissingEvidenceHash"),
        (fuel(fs, oxidation_rate=1_000_001), "InvalidOxidationRate"),
        (fuel(0), "FactorSetRequired"),                              # CC and OF left to defaults without a set
        (fuel(fs, ncv=0), "FactorMissing"),                          # the set has no coal NCV default
        (fuel(fs, fuel=GAS), "FactorMissing"),                       # nor any gas default
        (fuel(fs, year=2011), "FactorSetNotApplicable"),
        (fuel(w.factor_set), "FactorMissing"),                       # the grid-only set
        (fuel(fs, month=13), "InvalidPeriod"),
        (fuel(fs, year=1970), "InvalidPeriod"),
        (fuel(fs, amends=99), "NoRecordToAmend"),
    ]
    for args, err in cases:
        assert refused(w, em.recordFuelCombustion(args), "enterprise").error == err, (args, err)
    assert refused(w, em.recordFuelCombustion(fuel(fs)), "outsider").error == "NotActiveParticipant"
    assert refused(w, em.recordFuelCombustion(fuel(fs)), "verifier").error == "NotActiveParticipant"
    w.tx(em.recordFuelCombustion(fuel(fs)), "enterprise")
    e = refused(w, em.recordFuelCombustion(fuel(fs)), "enterprise")
    assert e.error == "RecordExists"
    # the heat-input path shares the period key: the same fuel-month cannot be declared twice
    assert refused(w, em.recordDeclared(ar.FUEL_COMBUSTION, COAL, 2007, 1, 5_000, fs, EVIDENCE, 0), "enterprise").error == "RecordExists"
    assert refused(w, em.recordFuelCombustion(fuel(fs, month=0)), "enterprise").error == "GranularityConflict"
    # a factor set whose OF default is above 100 % is refused when used
    bad = w.tx(w.dep.factors.functions.publishFactorSet(2007, 2007, [fuel_of_code(GAS)], [1_000_001], [6], "test: invalid", "bad"), "regulator")
    bad_id = int(w.dep.factors.decode_events(bad, "FactorSetPublished")[0].factorSetId)
    e = refused(w, em.recordFuelCombustion(fuel(bad_id, fuel=GAS, carbon_content=1)), "enterprise")
    assert e.error == "InvalidOxidationRate"


def test_amending_a_rejected_fuel_record_keeps_one_current_record(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    fs = publish_defaults(w)
    res = w.tx(em.recordFuelCombustion(fuel(fs)), "enterprise")
    rid = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    res2 = w.tx(em.recordFuelCombustion(fuel(fs, consumption=999_000, amends=rid)), "enterprise")
    rid2 = int(w.dep.emissions.decode_events(res2, "ActivityRecorded")[0].recordId)
    assert w.call(em.currentRecord(org_id(USCC["enterprise"]), ar.FUEL_COMBUSTION, COAL, 2007, 1)) == rid2
    assert ar.records.record(w.dep, rid)["amendedBy"] == rid2


def test_purchased_heat_is_recorded_with_the_factor_sets_heat_factor(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    fs = publish_defaults(w)
    res = w.tx(em.recordDeclared(ar.PURCHASED_HEAT, bytes(32), 2007, 1, 3_600_123, fs, EVIDENCE, 0), "enterprise")
    rid = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    rec = ar.records.record(w.dep, rid)
    assert rec["emissionsKg"] == heat_emissions_kg(3_600_123, HEAT_EF_TEST_INPUT) == 396_014  # 3600.123 GJ × 0.11 t/GJ
    assert rec["factorValue"] == HEAT_EF_TEST_INPUT and w.call(em.acquisitionMethod(rid)) == 1
    # heat purchased is not heat supplied: the allocation output total stays 0
    for rid_ in (rid,):
        w.tx(em.submit(rid_), "enterprise")
        w.tx(em.assignVerifier(rid_, w.acct["verifier"]), "regulator")
        w.tx(em.attest(rid_, keccak256(b"r"), bytes(32)), "verifier")
        w.tx(em.confirm(rid_), "regulator")
    assert w.call(em.confirmedTotals(org_id(USCC["enterprise"]), 2007)).as_dict() == {
        "emissionsKgTotal": 396_014, "electricitySuppliedWh": 0, "heatSuppliedMJ": 0, "confirmedRecords": 1}
    for args, err in [((ar.PURCHASED_HEAT, bytes(32), 2007, 2, 1, w.factor_set, EVIDENCE, 0), "FactorMissing"),
                      ((ar.PURCHASED_HEAT, bytes(32), 2007, 2, 1, 0, EVIDENCE, 0), "FactorSetNotApplicable"),
                      ((ar.PURCHASED_HEAT, bytes(32), 2007, 2, 0, fs, EVIDENCE, 0), "ZeroAmount"),
                      ((ar.PURCHASED_HEAT, bytes(32), 2007, 2, 1, fs, bytes(32), 0), "MissingEvidenceHash"),
                      ((6, bytes(32), 2007, 2, 1, fs, EVIDENCE, 0), None)]:
        with pytest.raises(ContractRevert) as e:
            w.tx(em.recordDeclared(*args), "enterprise")
        if err:
            assert e.value.error == err
    assert refused(w, em.recordDeclared(ar.PURCHASED_HEAT, bytes(32), 2007, 2, 1, fs, EVIDENCE, 0), "outsider").error == "NotActiveParticipant"


def test_anchored_meter_data_is_tagged_online_monitoring(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    anchor_day(w, DAY0, [3_000_000] * 60)
    declare_gap(w, 2007, 1, all_days_but([1]))
    res = w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, bytes(32), 0), "enterprise")
    rid = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    assert w.call(em.acquisitionMethod(rid)) == 2
    assert [e.method for e in w.dep.emissions.decode_events(res, "AcquisitionMethodRecorded")] == [2]
    with pytest.raises(ContractRevert) as e:
        w.call(em.acquisitionMethod(999))
    assert e.value.error == "UnknownRecord"


# ------------------------------------------------------------------ the annual report
def _confirm(w: World, rids: list[int], verifier: str = "verifier") -> None:
    em = w.dep.emissions.functions
    calls = []
    for r in rids:
        if ar.records.record(w.dep, r)["status"] == "draft":
            calls.append(Call.of(em.submit(r), w.acct["enterprise"]))
    if calls:
        w.client.send(calls)
    w.client.send([Call.of(em.assignVerifier(r, w.acct[verifier]), w.acct["regulator"]) for r in rids])
    w.client.send([Call.of(em.attest(r, keccak256(b"report %d" % r), bytes(32)), w.acct[verifier]) for r in rids])
    w.client.send([Call.of(em.confirm(r), w.acct["regulator"]) for r in rids])


def build_year(w: World) -> dict[str, int]:
    """Jan + Feb: anchored electricity, coal by the guideline (Jan measured NCV + default CC/OF,
    Feb all measured), purchased heat in Jan; all confirmed. A March heat record stays Draft."""
    em = w.dep.emissions.functions
    fs = publish_defaults(w)
    anchor_day(w, DAY0, [3_000_000] * 60)
    anchor_day(w, FEB, [1_500_000] * 60, first_seq=100)
    declare_gap(w, 2007, 1, all_days_but([1]))
    declare_gap(w, 2007, 2, all_days_but([1], 28))
    ids: dict[str, int] = {}

    def rec(name: str, fn) -> None:
        res = w.tx(fn, "enterprise")
        ids[name] = int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)

    rec("elec1", em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, fs, bytes(32), 0))
    rec("elec2", em.recordPurchasedElectricity(w.device, 2007, 2, 1, 1, fs, bytes(32), 0))
    rec("coal1", em.recordFuelCombustion(fuel(fs)))
    rec("coal2", em.recordFuelCombustion(fuel(fs, month=2, consumption=800_500, ncv=21_000_000, carbon_content=27_000_000,
                                              oxidation_rate=980_000)))
    rec("heat1", em.recordDeclared(ar.PURCHASED_HEAT, bytes(32), 2007, 1, 3_600_123, fs, EVIDENCE, 0))
    _confirm(w, [ids["elec1"], ids["elec2"], ids["coal1"], ids["coal2"], ids["heat1"]])
    rec("heat3", em.recordDeclared(ar.PURCHASED_HEAT, bytes(32), 2007, 3, 10, fs, EVIDENCE, 0))
    ids["fs"] = fs
    return ids


def test_the_annual_report_adds_up_the_confirmed_months_with_tags(chain: World) -> None:
    w = chain
    ids = build_year(w)
    org = "0x" + org_id(USCC["enterprise"]).hex()
    rep = ar.annual_report(w.dep, org, 2007)
    by = {(ln["category"], ln["subject"]): ln for ln in rep["lines"]}
    assert set(by) == {("fuel_combustion", "COAL"), ("purchased_electricity", "0x" + w.device.hex()), ("purchased_heat", "0x" + "00" * 32)}
    coal, elec, heat = by[("fuel_combustion", "COAL")], by[("purchased_electricity", "0x" + w.device.hex())], by[("purchased_heat", "0x" + "00" * 32)]
    assert [ln["category"] for ln in rep["lines"]][0] == "fuel_combustion"       # scope 1 first
    assert (coal["scope"], coal["scope_label"], coal["gas"], coal["acquisition_method"]) == (1, "direct", "CO2", "calculation")
    assert (elec["scope"], elec["acquisition_method"]) == (2, "online_monitoring")
    assert (heat["scope"], heat["acquisition_method"]) == (2, "calculation")
    kg1 = guideline_fuel_emissions_kg(1_000_000, NCV_MEASURED, COAL_CC_DEFAULT, COAL_OF_DEFAULT)
    kg2 = guideline_fuel_emissions_kg(800_500, 21_000_000, 27_000_000, 980_000)
    assert coal["emissions_kgco2"] == kg1 + kg2 and [m["emissions_kgco2"] for m in coal["months"]] == [kg1, kg2]
    assert coal["fuel_consumption"]["amount"] == 1_800_500 and coal["fuel_consumption"]["display"] == "1800.500 t"
    jan, feb = coal["months"]
    assert jan["defaults_used"] == ["carbon_content", "oxidation_rate"] and feb["defaults_used"] == []
    assert jan["factor"]["carbon_content"] == {"value": "0.03085", "unit": "tC/GJ", "source": "default"}
    assert jan["factor"]["ncv"]["source"] == "measured" and jan["factor"]["ncv"]["value"] == "20.908"
    assert jan["factor"]["factor_set_id"] == ids["fs"] and jan["factor"]["citation"] == DEFAULTS_CITATION
    assert jan["factor"]["citation_matches_chain"] is True
    # metered Wh of 1 January / 1 February plus each month's declared-gap substitute (days 2..end)
    wh = [3_000_000 * 60 * 60 // 3600 + GAP_SUBSTITUTE_WH, 1_500_000 * 60 * 60 // 3600 + GAP_SUBSTITUTE_WH]
    assert elec["activity_data"] == {"amount": sum(wh), "unit": "Wh", "display": "4.502 MWh"}
    assert elec["emissions_kgco2"] == sum(emissions_kg(x, 5703) for x in wh) == 1711 + 856
    assert [(m["activity_data"]["metered_wh"], m["activity_data"]["substitute_wh"], len(m["activity_data"]["gap_days"]))
            for m in elec["months"]] == [(3_000_000, GAP_SUBSTITUTE_WH, 30), (1_500_000, GAP_SUBSTITUTE_WH, 27)]
    # one factor set per enterprise-year (issue 12): the grid EF comes from the assigned set and its citation
    assert elec["months"][0]["factor"]["value"] == "0.5703" and elec["months"][0]["factor"]["citation"] == DEFAULTS_CITATION
    assert heat["emissions_kgco2"] == 396_014 and heat["activity_data"]["display"] == "3600.123 GJ"
    t = rep["totals"]
    assert t["scope1_kgco2"] == kg1 + kg2 and t["scope2_kgco2"] == 1711 + 856 + 396_014
    assert t["total_kgco2"] == t["scope1_kgco2"] + t["scope2_kgco2"] == t["chain_confirmed_kgco2"] and t["matches_chain"]
    assert t["total_tco2e"] == f"{t['total_kgco2'] // 1000}.{t['total_kgco2'] % 1000:03d}" and t["confirmed_records"] == 5
    assert rep["coverage"] == {"confirmed_months": [1, 2], "missing_months": list(range(3, 13)), "annual_record_ids": []}
    assert rep["not_confirmed"] == [{"record_id": ids["heat3"], "month": 3, "activity_type": "purchased_heat", "status": "draft"}]
    assert rep["report_hash"] == ar.report_hash(rep) and rep["report_hash"] == ar.annual_report(w.dep, org, 2007)["report_hash"]
    # the hash commits to the figures: changing any number changes it
    forged = {**rep, "totals": {**t, "total_kgco2": t["total_kgco2"] - 1}}
    assert ar.report_hash(forged) != rep["report_hash"]
    # another enterprise's report is empty; so is another year
    other = ar.annual_report(w.dep, org_id(USCC["enterprise2"]), 2007)
    assert other["lines"] == [] and other["totals"]["total_kgco2"] == 0 and other["coverage"]["missing_months"] == list(range(1, 13))
    with pytest.raises(ValueError):
        ar.annual_report(w.dep, org, 1970)


def test_canonical_json_refuses_floats_and_fuel_codes_are_checked() -> None:
    with pytest.raises(TypeError):
        ar.canonical_json({"a": 1.5})
    assert ar.canonical_json({"b": [1, "x"], "a": "配额"}) == '{"a":"配额","b":[1,"x"]}'.encode()
    for bad in ("", "x" * 33, "煤", "CO AL"):
        with pytest.raises(ValueError):
            ar.fuel_code(bad)
    assert ar.subject_text(COAL) == "COAL" and ar.subject_text(keccak256(b"x")).startswith("0x")


# ------------------------------------------------------------------ API
@pytest.fixture()
def env(chain: World, tmp_path: Path):
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(chain.dep, store, None, custodial=[chain.acct[n] for n in ("regulator", "enterprise", "verifier", "calibration")])
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), role) for n, role in
            [("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"), ("regulator", "REGULATOR_ROLE"),
             ("verifier", "VERIFIER_ROLE"), ("verifier2", "VERIFIER_ROLE"), ("calibration", "CALIBRATION_BODY_ROLE")]}
    return chain, TestClient(app), keys


def H(keys: dict[str, str], who: str, idem: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {keys[who]}"}
    if idem:
        h["Idempotency-Key"] = idem
    return h


def problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"/v1/problems/{slug}", r.json()
    return r.json()


def device_body(w: World, **kw) -> dict:
    return {"serial": "meter-7", "signer": Signer(new_private_key()).address, "quantity_code": 1, **kw}


def test_devices_endpoints_list_register_calibrate_revoke(env) -> None:
    w, http, keys = env
    r = http.get("/v1/enterprise/devices", headers=H(keys, "enterprise"))
    assert r.status_code == 200 and [d["device_id"] for d in r.json()["items"]] == ["0x" + w.device.hex()]
    assert r.json()["items"][0]["calibrations"][0]["by"] == w.acct["calibration"]
    body = device_body(w)
    r = http.post("/v1/enterprise/devices", json=body, headers=H(keys, "enterprise"))
    assert r.status_code == 201, r.text
    dev = r.json()
    assert dev["device_id"] == "0x" + device_id(USCC["enterprise"], "meter-7").hex() and dev["status"] == "active"
    assert dev["signer"] == body["signer"] and dev["calibrated_until"] == 0 and dev["calibrations"] == []
    # page through: two devices, one per page
    p1 = http.get("/v1/enterprise/devices?limit=1", headers=H(keys, "enterprise")).json()
    p2 = http.get(f"/v1/enterprise/devices?limit=1&cursor={p1['next_cursor']}", headers=H(keys, "enterprise")).json()
    assert [d["device_id"] for d in p1["items"] + p2["items"]] == ["0x" + w.device.hex(), dev["device_id"]] and p2["next_cursor"] is None
    cal1 = {"valid_from": 1_262_304_000, "valid_until": 1_293_840_000, "certificate_hash": "0x" + keccak256(b"cert 1").hex()}
    cal = {"valid_from": 1_293_840_000, "valid_until": 1_325_376_000, "certificate_hash": "0x" + keccak256(b"cert 2").hex()}
    # the enterprise may not calibrate its own meter: the calibration body does
    problem(http.post(f"/v1/calibration/devices/{dev['device_id']}/calibrations", json=cal1, headers=H(keys, "enterprise")), 403, "wrong-role")
    r = http.post(f"/v1/calibration/devices/{dev['device_id']}/calibrations", json=cal1, headers=H(keys, "calibration"))
    assert r.status_code == 201, r.text
    r = http.post(f"/v1/calibration/devices/{dev['device_id']}/calibrations", json=cal, headers=H(keys, "calibration"))
    assert r.status_code == 201 and r.json()["calibrated_until"] == 1_325_376_000
    assert [(c["valid_from"], c["valid_until"]) for c in r.json()["calibrations"]] == [(1_262_304_000, 1_293_840_000 - 1),
                                                                                       (1_293_840_000, 1_325_376_000)]
    assert [c["certificate_hash"] for c in r.json()["calibrations"]] == [cal1["certificate_hash"], cal["certificate_hash"]]
    r = http.post(f"/v1/enterprise/devices/{dev['device_id']}/revoke", json={"reason_hash": "0x" + "ef" * 32}, headers=H(keys, "enterprise"))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    p = problem(http.post(f"/v1/enterprise/devices/{dev['device_id']}/revoke", json={"reason_hash": "0x" + "ef" * 32},
                          headers=H(keys, "enterprise")), 409, "contract-refused")
    assert p["error"] == "DeviceAlreadyRevoked"
    p = problem(http.post(f"/v1/calibration/devices/{dev['device_id']}/calibrations", json={**cal, "valid_from": 1_300_000_000},
                          headers=H(keys, "calibration")), 409, "contract-refused")
    assert p["error"] == "DeviceAlreadyRevoked"
    # the same serial again, or the same signer under another serial
    assert problem(http.post("/v1/enterprise/devices", json=body, headers=H(keys, "enterprise")), 409, "contract-refused")["error"] == "DeviceExists"
    assert problem(http.post("/v1/enterprise/devices", json={**body, "serial": "meter-8"}, headers=H(keys, "enterprise")),
                   409, "contract-refused")["error"] == "SignerInUse"


def test_devices_endpoints_refuse_outsiders_other_enterprises_and_bad_input(env) -> None:
    w, http, keys = env
    dev = "0x" + w.device.hex()
    body = device_body(w)
    problem(http.get("/v1/enterprise/devices"), 401, "unauthenticated")
    problem(http.post("/v1/enterprise/devices", json=body), 401, "unauthenticated")
    problem(http.post("/v1/enterprise/devices", json=body, headers=H(keys, "verifier")), 403, "wrong-role")
    problem(http.post(f"/v1/enterprise/devices/{dev}/revoke", json={"reason_hash": "0x" + "ef" * 32}, headers=H(keys, "regulator")), 403, "wrong-role")
    # another enterprise sees nothing of this one's devices and cannot touch them
    assert http.get("/v1/enterprise/devices", headers=H(keys, "enterprise2")).json()["items"] == []
    problem(http.get(f"/v1/enterprise/devices/{dev}", headers=H(keys, "enterprise2")), 404, "not-found")
    problem(http.post(f"/v1/enterprise/devices/{dev}/revoke", json={"reason_hash": "0x" + "ef" * 32}, headers=H(keys, "enterprise2")), 404, "not-found")
    problem(http.post(f"/v1/calibration/devices/{dev}/calibrations", json={"valid_from": 1, "valid_until": 2, "certificate_hash": "0x" + "11" * 32},
                      headers=H(keys, "enterprise2")), 403, "wrong-role")
    problem(http.get(f"/v1/enterprise/devices/0x{'12' * 32}", headers=H(keys, "enterprise")), 404, "not-found")
    for bad in ({"signer": "0x1234"}, {"quantity_code": 0}, {"calibrated_until": 1_293_840_000},
                {"serial": ""}, {"serial": "has space"}, {"extra": 1}, {"calibration_certificate_hash": "0x" + "ab" * 32}):
        problem(http.post("/v1/enterprise/devices", json={**body, **bad}, headers=H(keys, "enterprise")), 422, "validation-error")
    problem(http.get("/v1/enterprise/devices/0x12", headers=H(keys, "enterprise")), 422, "validation-error")
    problem(http.post(f"/v1/calibration/devices/{dev}/calibrations", json={"valid_from": 1, "valid_until": 5, "certificate_hash": "0x" + "00" * 32},
                      headers=H(keys, "calibration")), 422, "validation-error")
    p = problem(http.post(f"/v1/calibration/devices/{dev}/calibrations", json={"valid_from": 1, "valid_until": 5, "certificate_hash": "0x" + "11" * 32},
                          headers=H(keys, "calibration")), 409, "contract-refused")
    assert p["error"] == "CalibrationOutOfOrder"          # before the meter's current calibration
    assert w.dep.devices.device(w.device).status == 1  # still active


def fuel_body(fs: int, **kw) -> dict:
    return {"kind": "fuel_combustion", "fuel": "COAL", "year": 2007, "month": 1, "consumption": 1_000_000, "ncv": NCV_MEASURED,
            "factor_set_id": fs, "evidence_hash": "0x" + EVIDENCE.hex(), **kw}


def test_declared_records_via_the_api_with_an_idempotent_retry(env) -> None:
    w, http, keys = env
    fs = publish_defaults(w)
    h = H(keys, "enterprise", "fuel-2007-01")
    r = http.post("/v1/enterprise/records/declared", json=fuel_body(fs), headers=h)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["status"] == "submitted" and rec["acquisition_method"] == "calculation" and rec["activity_type"] == "fuel_combustion"
    assert rec["emissionsKg"] == 2_341_393 and rec["defaults_used"] == ["carbon_content", "oxidation_rate"]
    txs = w.client.tx_count
    again = http.post("/v1/enterprise/records/declared", json=fuel_body(fs), headers=h)
    assert again.status_code == 201 and again.json() == rec and again.headers.get("Idempotency-Replayed") == "true"
    assert w.client.tx_count == txs
    problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs, consumption=2), headers=h), 409, "idempotency-conflict")
    # without the key the same declaration is a duplicate for the contract
    assert problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs), headers=H(keys, "enterprise")),
                   409, "contract-refused")["error"] == "RecordExists"
    heat = {"kind": "purchased_heat", "year": 2007, "month": 1, "heat_mj": 3_600_123, "factor_set_id": fs,
            "evidence_hash": "0x" + EVIDENCE.hex(), "submit": False}
    r = http.post("/v1/enterprise/records/declared", json=heat, headers=H(keys, "enterprise"))
    assert r.status_code == 201 and r.json()["status"] == "draft" and r.json()["emissionsKg"] == 396_014
    d = http.get(f"/v1/enterprise/records/{rec['record_id']}/details", headers=H(keys, "enterprise")).json()
    assert d["fuel_parameters"]["carbonContent"] == COAL_CC_DEFAULT
    problem(http.get(f"/v1/enterprise/records/{rec['record_id']}/details", headers=H(keys, "enterprise2")), 404, "not-found")


def test_declared_records_refuse_bad_input_and_other_roles(env) -> None:
    w, http, keys = env
    fs = publish_defaults(w)
    problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs)), 401, "unauthenticated")
    problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs), headers=H(keys, "verifier")), 403, "wrong-role")
    problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs), headers=H(keys, "enterprise2")), 409, "no-custodial-key")
    for bad in ({"kind": "cems"}, {"oxidation_rate": 1_000_001}, {"consumption": 0}, {"month": 13}, {"fuel": ""}, {"fuel": "煤"},
                {"evidence_hash": "0x" + "00" * 32}, {"ncv": -1}, {"heat_mj": 5}, {"year": 1970}):
        problem(http.post("/v1/enterprise/records/declared", json={**fuel_body(fs), **bad}, headers=H(keys, "enterprise")), 422, "validation-error")
    assert problem(http.post("/v1/enterprise/records/declared", json=fuel_body(fs, ncv=0), headers=H(keys, "enterprise")),
                   409, "contract-refused")["error"] == "FactorMissing"
    assert problem(http.post("/v1/enterprise/records/declared", json=fuel_body(0, carbon_content=0), headers=H(keys, "enterprise")),
                   409, "contract-refused")["error"] == "FactorSetRequired"
    heat = {"kind": "purchased_heat", "year": 2007, "month": 1, "heat_mj": 1, "factor_set_id": w.factor_set, "evidence_hash": "0x" + EVIDENCE.hex()}
    assert problem(http.post("/v1/enterprise/records/declared", json=heat, headers=H(keys, "enterprise")), 409,
                   "contract-refused")["error"] == "FactorMissing"
    assert int(w.call(w.dep.emissions.functions.recordCount())) == 0


def test_annual_report_endpoints_scope_enterprise_verifier_and_regulator(env) -> None:
    w, http, keys = env
    build_year(w)
    org = "0x" + org_id(USCC["enterprise"]).hex()
    own = http.get("/v1/enterprise/reports/2007", headers=H(keys, "enterprise"))
    assert own.status_code == 200 and own.json()["totals"]["matches_chain"] and len(own.json()["lines"]) == 3
    assert own.json() == ar.annual_report(w.dep, org, 2007)
    assert http.get(f"/v1/regulator/reports/{org}/2007", headers=H(keys, "regulator")).json()["report_hash"] == own.json()["report_hash"]
    assert http.get(f"/v1/verifier/reports/{org}/2007", headers=H(keys, "verifier")).json()["report_hash"] == own.json()["report_hash"]
    # a verifier without assigned records of this enterprise-year sees nothing
    problem(http.get(f"/v1/verifier/reports/{org}/2007", headers=H(keys, "verifier2")), 404, "not-found")
    problem(http.get(f"/v1/verifier/reports/{org}/2008", headers=H(keys, "verifier")), 404, "not-found")
    problem(http.get(f"/v1/regulator/reports/{org}/2007", headers=H(keys, "enterprise")), 403, "wrong-role")
    problem(http.get(f"/v1/verifier/reports/{org}/2007", headers=H(keys, "enterprise")), 403, "wrong-role")
    problem(http.get("/v1/enterprise/reports/2007"), 401, "unauthenticated")
    problem(http.get(f"/v1/regulator/reports/0x{org_id(USCC['verifier']).hex()}/2007", headers=H(keys, "regulator")), 404, "not-found")
    problem(http.get("/v1/enterprise/reports/1970", headers=H(keys, "enterprise")), 422, "validation-error")
    problem(http.get("/v1/regulator/reports/0x12/2007", headers=H(keys, "regulator")), 422, "validation-error")
    other = http.get("/v1/enterprise/reports/2007", headers=H(keys, "enterprise2")).json()
    assert other["lines"] == [] and other["enterprise"] == "0x" + org_id(USCC["enterprise2"]).hex()


def test_compliance_position(env) -> None:
    w, http, keys = env
    r = http.get("/v1/enterprise/compliance/2019", headers=H(keys, "enterprise"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period_open"] is False and body["compliance"] is None
    assert body["confirmed"]["emissions_kgco2"] == 0 and body["holdings"]["account"] == w.acct["enterprise"]
    assert http.post("/v1/regulator/compliance-periods", json={"year": 2019}, headers=H(keys, "regulator")).status_code == 201
    body = http.get("/v1/enterprise/compliance/2019", headers=H(keys, "enterprise")).json()
    assert body["period_open"] is True and body["compliance"]["status"] == "open"
    assert body["compliance"]["enterprise"] == "0x" + org_id(USCC["enterprise"]).hex() and body["compliance"]["obligation"] == 0
    problem(http.get("/v1/enterprise/compliance/2019", headers=H(keys, "verifier")), 403, "wrong-role")
    problem(http.get("/v1/enterprise/compliance/2019"), 401, "unauthenticated")
    problem(http.get("/v1/enterprise/compliance/99999", headers=H(keys, "enterprise")), 422, "validation-error")
