"""Complete emissions before allocation and surrender (issue 12, "Complete emissions"): the
attacker's view. Each test is written so that it fails on the v1 contracts (which counted only the
records an enterprise chose to have confirmed, let it choose the factor set per record and summed
a month with missing days) and passes once completeness is a rule:

- a non-reporter cannot keep its 70 % pre-allocation: the final allocation is refused until the
  regulator assesses (核定) its emissions with a reason, and then the year closes in Shortfall;
- confirming one enrolled activity type of several does not make the year closable;
- the factor set of an enterprise-year is the one the regulator assigned, not the record's choice;
- a month with a day missing is refused unless the gap is declared, and a declared gap adds the
  regulator's substitute (never lowers E);
- ``confirm`` recomputes a meter-data record from the current (superseding) batches;
- purchased-electricity emissions count towards the obligation only where the period says so;
- the Python mirrors raise where the contracts revert on overflow.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ledger.accounting.compliance import (
    allocation_tonnes,
    ccer_cap,
    emissions_tonnes,
    obligation_tonnes,
    penalty_range_fen,
    pre_allocation_tonnes,
)
from ledger.accounting.emissions import Uint256Overflow, emissions_kg, fuel_emissions_kg, guideline_fuel_emissions_kg
from ledger.chain.client import Call, ContractRevert
from ledger.identifiers import org_id
from tests import test_allocation_compliance as ac
from tests.conftest import GRID_EF_SCALED, USCC, World
from tests.helpers import DAY0, as_tuple, minute_readings, report_for, sign_report
from tests.test_allocation_compliance import (
    COAL,
    ELEC,
    EV,
    FUEL,
    REPORT,
    YEAR,
    ZERO32,
    allocate,
    confirm_all,
    declare,
    entry,
    fuel_mj_for_tonnes,
    now,
    open_period,
    refused,
    status,
    travel_to,
)
from tests.test_contracts import anchor_day

#: The allocation module's system (module fixture, reverted per test) reused here.
sysm, s = ac.sysm, ac.s

PURCHASED = 1  # EmissionsRegistry.ActivityType.PurchasedElectricity
SHORTFALL = 2  # Compliance.Status.Shortfall
REASON = b"\x11" * 32


def _refused(w: World, fn, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


# ----------------------------------------------------------------------------- allocation and close
def test_a_non_reporter_does_not_keep_its_pre_allocation(s: SimpleNamespace) -> None:
    """No record confirmed: v1 refused the final allocation for ever, so the enterprise kept its
    70 % pre-allocation with no shortfall and no penalty. Now the regulator assesses (核定) its
    emissions with a reason, the final allocation claws the pre-allocation back, and the year
    closes in Shortfall."""
    allocate(s, "enterprise", s.e1, 1_000_000_000_000)                       # 1,000 MWh basis → 614 t pre-allocated
    pre = entry(s, s.e1)["preAllocation"]
    assert pre > 0
    f, em = s.alloc.functions, s.d.emissions.functions
    refused(s, f.finalAllocate(YEAR, s.e1), "regulator", "EmissionsNotConfirmed")
    assessed_kg = 900_000                                                     # 900 t, the regulator's 核定 value
    refused(s, em.assessEmissions(s.e1, YEAR, assessed_kg, 0, ZERO32), "regulator", "MissingReasonHash")
    s.w.tx(em.assessEmissions(s.e1, YEAR, assessed_kg, 0, REASON), "regulator")
    y = s.d.emissions.annualEmissions(s.e1, YEAR)
    assert (y.closable, y.assessed, y.emissionsKg) == (True, True, assessed_kg)
    s.w.tx(f.finalAllocate(YEAR, s.e1), "regulator")
    e = entry(s, s.e1)
    assert e["finalAllocation"] == 0 and e["clawedBack"] == pre                # no confirmed output: nothing allocated
    deadline = now(s) + 1_000
    open_period(s, deadline)
    travel_to(s, deadline + 1)
    s.w.tx(s.comp.functions.publishPrice(YEAR, 9_800, "test price"), "regulator")
    s.w.tx(s.comp.functions.close(YEAR, s.e1), "regulator")
    st = status(s, s.e1)
    assert st["status"] == SHORTFALL and st["emissionsT"] == 900 and st["shortfallAtClose"] > 0 and st["penaltyMinFen"] > 0


def test_confirming_one_activity_type_does_not_close_the_year(s: SimpleNamespace) -> None:
    """v1: an enterprise confirming only its electricity supplied got the full allocation with E = 0.
    Now the year is closable only when every enrolled source is confirmed (or assessed)."""
    allocate(s, "enterprise", s.e1, 1_000_000_000_000)
    elec = declare(s, "enterprise", ELEC, 1_000_000_000_000)                  # 1,000 MWh supplied, the only record
    confirm_all(s, "enterprise", [elec])
    f, em = s.alloc.functions, s.d.emissions.functions
    refused(s, f.finalAllocate(YEAR, s.e1), "regulator", "EmissionsNotConfirmed")   # nothing enrolled: not complete
    s.w.tx(em.enrolSources(s.e1, YEAR, [ELEC, FUEL], [ZERO32, COAL]), "regulator")
    y = s.d.emissions.annualEmissions(s.e1, YEAR)
    assert (y.enrolledSources, y.completeSources, y.closable) == (2, 1, False)
    refused(s, f.finalAllocate(YEAR, s.e1), "regulator", "EmissionsNotConfirmed")   # the fuel is missing
    fuel = declare(s, "enterprise", FUEL, fuel_mj_for_tonnes(700))
    confirm_all(s, "enterprise", [fuel])
    y = s.d.emissions.annualEmissions(s.e1, YEAR)
    assert (y.enrolledSources, y.completeSources, y.closable, y.assessed) == (2, 2, True, False)
    s.w.tx(f.finalAllocate(YEAR, s.e1), "regulator")
    assert entry(s, s.e1)["finalised"]


def test_enrolment_is_the_regulators_and_refuses_bad_input(s: SimpleNamespace) -> None:
    em = s.d.emissions.functions
    for who in ("enterprise", "verifier", "outsider"):
        refused(s, em.enrolSources(s.e1, YEAR, [ELEC], [ZERO32]), who, "NotRegulator")
        refused(s, em.assessEmissions(s.e1, YEAR, 1, 0, REASON), who, "NotRegulator")
        refused(s, em.assignFactorSet(s.e1, YEAR, s.fuel_set), who, "NotRegulator")
    refused(s, em.enrolSources(s.e1, YEAR, [ELEC, FUEL], [ZERO32]), "regulator", "InvalidSources")
    refused(s, em.enrolSources(s.e1, YEAR, [], []), "regulator", "InvalidSources")
    refused(s, em.enrolSources(s.e1, YEAR, [0], [ZERO32]), "regulator", "InvalidSources")
    refused(s, em.enrolSources(s.e1, 1970, [ELEC], [ZERO32]), "regulator", "InvalidPeriod")
    refused(s, em.enrolSources(b"\x99" * 32, YEAR, [ELEC], [ZERO32]), "regulator", "UnknownEnterprise")
    s.w.tx(em.enrolSources(s.e1, YEAR, [ELEC], [ZERO32]), "regulator")
    refused(s, em.enrolSources(s.e1, YEAR, [ELEC], [ZERO32]), "regulator", "AlreadyEnrolled")
    refused(s, em.assessEmissions(s.e1, YEAR, 1, 2, REASON), "regulator", "InvalidAssessment")
    refused(s, em.assignFactorSet(s.e1, YEAR, 999), "regulator", "FactorSetNotApplicable")


def test_an_assessment_never_lowers_the_confirmed_emissions_and_is_made_once(s: SimpleNamespace) -> None:
    em = s.d.emissions.functions
    fuel = declare(s, "enterprise", FUEL, fuel_mj_for_tonnes(50))
    confirm_all(s, "enterprise", [fuel])
    confirmed = s.d.emissions.confirmedTotals(s.e1, YEAR).emissionsKgTotal
    assert confirmed > 0
    err = refused(s, em.assessEmissions(s.e1, YEAR, confirmed - 1, 0, REASON), "regulator", "AssessmentBelowConfirmed")
    assert err.args_ == (confirmed - 1, confirmed)
    refused(s, em.assessGap(b"\x01" * 32, YEAR, 1, 5, ZERO32), "regulator", "NoGapDeclared")
    s.w.tx(em.assessEmissions(s.e1, YEAR, confirmed + 1_000, 0, REASON), "regulator")
    refused(s, em.assessEmissions(s.e1, YEAR, confirmed + 2_000, 0, REASON), "regulator", "AlreadyAssessed")
    y = s.d.emissions.annualEmissions(s.e1, YEAR)
    assert (y.assessed, y.complete, y.closable, y.emissionsKg, y.reasonHash) == (True, False, True, confirmed + 1_000, REASON)


# ----------------------------------------------------------------------------- meter data
def test_the_enterprise_cannot_pick_a_favourable_factor_set(chain: World) -> None:
    """v1: any published set applying to the year could be named per record, e.g. one with a lower
    grid factor. Now only the set the regulator assigned to the enterprise-year is accepted."""
    w, em = chain, chain.dep.emissions.functions
    grid = bytes(w.call(w.dep.factors.functions.GRID_EF()))
    res = w.tx(w.dep.factors.functions.publishFactorSet(2007, 2007, [grid], [1], [4], "a friendly factor", "low"), "regulator")
    low = w.dep.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
    for k in range(31):
        anchor_day(w, DAY0 + k * 86_400, [1_000_000], first_seq=1 + k)
    assert w.call(em.assignedFactorSet(org_id(USCC["enterprise"]), 2007)) == w.factor_set   # the world's regulator assigned it
    _refused(w, em.recordPurchasedElectricity(w.device, 2007, 1, 0, 30, low, EV, 0), "enterprise", "FactorSetNotAssigned")
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 30, w.factor_set, EV, 0), "enterprise")
    rid = w.call(em.currentRecord(org_id(USCC["enterprise"]), PURCHASED, w.device, 2007, 1))
    assert w.dep.emissions.record(rid).factorValue == GRID_EF_SCALED
    # once a record used it, the regulator cannot swap the year's set either
    _refused(w, em.assignFactorSet(org_id(USCC["enterprise"]), 2007, low), "regulator", "FactorSetAlreadyAssigned")


def test_a_month_with_a_missing_day_is_refused_unless_the_gap_is_declared(chain: World) -> None:
    """v1: leaving a day out of the anchored data simply lowered E. Now the record is refused
    (MissingDays) until the enterprise declares the gap and the regulator assesses its substitute;
    the record then carries metered + substitute Wh, never less than the metered Wh."""
    w, em = chain, chain.dep.emissions.functions
    for k in range(31):
        if k != 14:                                                           # 15 January has no batch
            anchor_day(w, DAY0 + k * 86_400, [1_000_000], first_seq=1 + k)
    err = _refused(w, em.recordPurchasedElectricity(w.device, 2007, 1, 0, 29, w.factor_set, EV, 0), "enterprise", "MissingDays")
    assert err.args_[3] == 1 << 14                                        # MissingDays(device, year, month, missingMask)
    _refused(w, em.declareGap(w.device, 2007, 1, 1 << 14, REASON), "enterprise2", "DeviceNotOwned")
    _refused(w, em.declareGap(w.device, 2007, 1, 1 << 31, REASON), "enterprise", "InvalidDayMask")
    _refused(w, em.declareGap(w.device, 2007, 1, 1 << 14, ZERO32), "enterprise", "MissingReasonHash")
    w.tx(em.declareGap(w.device, 2007, 1, 1 << 14, REASON), "enterprise")
    _refused(w, em.recordPurchasedElectricity(w.device, 2007, 1, 0, 29, w.factor_set, EV, 0), "enterprise", "GapNotAssessed")
    _refused(w, em.assessGap(w.device, 2007, 1, 24_000, REASON), "enterprise", "NotRegulator")
    _refused(w, em.assessGap(w.device, 2007, 1, 0, REASON), "regulator", "ZeroAmount")
    w.tx(em.assessGap(w.device, 2007, 1, 24_000, REASON), "regulator")       # the regulator's substitute, Wh
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 29, w.factor_set, EV, 0), "enterprise")
    rid = w.call(em.currentRecord(org_id(USCC["enterprise"]), PURCHASED, w.device, 2007, 1))
    r, g = w.dep.emissions.record(rid), w.dep.emissions.recordGap(rid)
    metered = 30 * 16_667                                                      # 1 MW for one minute, per day
    assert (g.dayMask, g.meteredWh, g.substituteWh) == (1 << 14, metered, 24_000)
    assert r.activityAmount == metered + 24_000 and r.emissionsKg == emissions_kg(metered + 24_000, GRID_EF_SCALED)


def test_confirm_recomputes_from_the_superseding_batches(chain: World) -> None:
    """v1 confirmed the Wh summed at recording time even after a batch was superseded."""
    w, em, a = chain, chain.dep.emissions.functions, chain.dep.anchor
    ids = [anchor_day(w, DAY0 + k * 86_400, [1_000_000], first_seq=1 + 10 * k) for k in range(31)]
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 30, w.factor_set, EV, 0), "enterprise")
    rid = w.call(em.currentRecord(org_id(USCC["enterprise"]), PURCHASED, w.device, 2007, 1))
    old_id, _, rep, _ = ids[3]
    new_rs = minute_readings(w.device, DAY0 + 3 * 86_400, [1_000_000, 2_000_000, 3_000_000], 31)
    new_rep, _ = report_for(new_rs, rep.config_digest, DAY0 + 3 * 86_400, DAY0 + 4 * 86_400,
                            supersedes=old_id.to_bytes(32, "big"))
    sigs = sign_report(new_rep, w.dep.domain.separator, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    w.tx(a.functions.supersede(old_id, as_tuple(new_rep), sigs, b"\x22" * 32), "oracle-1")
    w.tx(em.submit(rid), "enterprise")
    w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
    w.tx(em.attest(rid, REPORT, ZERO32), "verifier")
    w.tx(em.confirm(rid), "regulator")
    wh = 30 * 16_667 + new_rep.total_wh
    r = w.dep.emissions.record(rid)
    assert r.activityAmount == wh and r.emissionsKg == emissions_kg(wh, GRID_EF_SCALED)
    t = w.dep.emissions.confirmedTotals(org_id(USCC["enterprise"]), 2007)
    assert t.emissionsKgTotal == emissions_kg(wh, GRID_EF_SCALED)


def test_purchased_electricity_counts_only_where_the_period_says_so(s: SimpleNamespace) -> None:
    """国环规气候〔2023〕1号 (2021–22) counts purchased-electricity indirect emissions, the 2023–24
    plan excludes them (china_rules.md §3b/§3c): a per-period switch. v1 always counted them."""
    allocate(s, "enterprise", s.e1, 1_000_000_000_000)
    em = s.d.emissions.functions
    s.w.tx(em.assessEmissions(s.e1, YEAR, 1_000_000, 400_000, REASON), "regulator")   # 1,000 t of which 400 t purchased power
    s.w.tx(s.alloc.functions.finalAllocate(YEAR, s.e1), "regulator")
    open_period(s, now(s) + 1_000, countsPurchasedElectricity=False)
    assert status(s, s.e1)["emissionsT"] == 600


# ----------------------------------------------------------------------------- mirrors
def test_the_python_mirrors_raise_where_the_contracts_revert(sysm) -> None:
    """Issue 12 ("The Python mirrors check the same integer bounds as the contracts"): each input
    below makes the contract's checked arithmetic revert (Panic 0x11); the mirror raises
    Uint256Overflow instead of returning a number the chain never could. Just inside the bound
    both agree."""
    em, al, co = sysm.d.emissions.functions, sysm.alloc.functions, sysm.comp.functions
    big = 2**255
    cases = [
        (em.emissionsKg(big, 5703), lambda: emissions_kg(big, 5703)),
        (em.fuelEmissionsKg(big, 10**6), lambda: fuel_emissions_kg(big, 10**6)),
        (em.guidelineFuelEmissionsKg(2**64, 2**64, 2**64, 2**64), lambda: guideline_fuel_emissions_kg(2**64, 2**64, 2**64, 2**64)),
        (al.allocationTonnes(2**200, 0, 2**40, 0, 2**20), lambda: allocation_tonnes(2**200, 0, 2**40, 0, 2**20)),
        (al.preAllocationTonnes(2**190, 0, 2**40, 0, 2**20, 10_000), lambda: pre_allocation_tonnes(2**190, 0, 2**40, 0, 2**20, 10_000)),
        (co.emissionsTonnes(2**256 - 1), lambda: emissions_tonnes(2**256 - 1)),
        (co.obligationOf(big, big, 10_000, False, False), lambda: obligation_tonnes(big, big, 10_000, False, False)),
        (co.ccerCap(big, 500), lambda: ccer_cap(big, 500)),
        (co.penaltyRange(big, 1), lambda: penalty_range_fen(big, 1)),
    ]
    for fn, mirror in cases:
        with pytest.raises(ContractRevert) as exc:
            sysm.c.call(fn)
        assert exc.value.error == "Panic", exc.value
        with pytest.raises(Uint256Overflow):
            mirror()
    with pytest.raises(Uint256Overflow):
        obligation_tonnes(10, 10, 2**16, False, False)          # gapCapBps is uint16 in the ABI
    with pytest.raises(Uint256Overflow):
        emissions_kg(2**256, 0)                                   # not a uint256 argument at all
    edge = 2**256 - 1 - 500
    assert sysm.c.call(co.emissionsTonnes(edge)) == emissions_tonnes(edge)
    assert sysm.c.call(em.emissionsKg(10**60, 5703)) == emissions_kg(10**60, 5703)
