"""Dual reporting of purchased electricity (issue 13, GHG Protocol Scope 2 Guidance 2015) on a real
Anvil: GreenCertificates.retire capped by the enterprise's Confirmed purchased electricity of the
period (beyond it, an unconfirmed month, another enterprise's purchase: refused; the cap accumulates
across retirements; outsiders still refused first), RESIDUAL_EF code and scale, and
``ledger.records.scope2.scope2_lines`` equal to the hand computation (market-based None when the
assigned factor set has no residual factor)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.accounting.emissions import residual_ef_code
from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, meter_serial_hash, org_id
from ledger.meter_data.reading import Reading
from ledger.records import workflow
from ledger.records.scope2 import NO_RESIDUAL, scope2_lines
from oracles.quantities import GENERATION_POWER
from tests.conftest import CAL_FROM, CAL_UNTIL, GRID_EF_SCALED, USCC, World
from tests.helpers import DAY0, as_tuple, confirm_purchase, report_for, sign_report

ENT = org_id(USCC["enterprise"])
ENT2 = org_id(USCC["enterprise2"])
FEB0 = DAY0 + 31 * 86_400      # 2007-02-01T00:00:00+01:00
WIND = 1
BENEFICIARY = keccak256(b"Demo key emitting enterprise, purchased electricity 2007")
#: A residual-mix factor for the tests only (kgCO2/kWh × 1e4): no official Chinese value exists
#: (UNCONFIRMED, docs/gec.md); 6500 is an arbitrary test number, not a published figure.
TEST_RESIDUAL = 6_500


def refused(w: World, fn: Any, who: str, error: str) -> ContractRevert:
    """``who`` calling ``fn`` is refused (pre-flight) with custom error ``error``."""
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def _certificates(w: World, mwh: int) -> None:
    """enterprise2's wind plant (generation meter calibrated 2006–2010) with ``mwh`` MWh anchored in
    January 2007, issued as ``mwh`` certificates (issuance 1, serials 1..mwh), all moved to ``enterprise``."""
    dev = device_id(USCC["enterprise2"], "WIND-2007")
    w.tx(w.dep.devices.functions.registerDevice(dev, ENT2, Signer(new_private_key()).address, GENERATION_POWER.code,
                                                meter_serial_hash("WIND-2007")), "enterprise2")
    w.tx(w.dep.devices.functions.recordCalibration(dev, CAL_FROM, CAL_UNTIL, keccak256(b"cal")), "calibration")
    reading = Reading(dev, 1, DAY0, DAY0 + 3_600, GENERATION_POWER.code, mwh * 1_000_000, 0, 0)
    report, _ = report_for([reading], bytes(w.dep.anchor.configDigest()), DAY0, FEB0)
    sigs = sign_report(report, w.dep.domain.separator, [w.oracle_signer(i) for i in (1, 2, 3)])
    w.tx(w.dep.anchor.functions.anchor(as_tuple(report), sigs), "oracle-1")
    gc = w.dep.certificates.functions
    w.tx(gc.issue(dev, 2007, 1, WIND, 0, 0, mwh, w.acct["enterprise2"]), "registry")
    w.tx(gc.transfer(1, w.acct["enterprise"], mwh), "enterprise2")


def _retire(w: World, quantity: int, month: int) -> Any:
    return w.dep.certificates.functions.retire(1, quantity, 2007, month, BENEFICIARY)


@pytest.fixture()
def market(chain: World) -> World:
    """5 certificates held by ``enterprise``; its January 2007 purchase of 2.5 MWh Confirmed."""
    _certificates(chain, 5)
    confirm_purchase(chain, 1, 2_500_000)
    return chain


# ------------------------------------------------------------------ the retire cap
def test_retirement_beyond_the_confirmed_purchase_is_refused_and_the_cap_accumulates(market: World) -> None:
    w, gc = market, market.dep.certificates
    assert gc.confirmedPurchaseWh(ENT, 2007, 1) == 2_500_000
    res = w.tx(_retire(w, 1, 1), "enterprise")
    ev = gc.decode_events(res, "PurchaseCovered")[0]
    assert (ev.enterpriseOrg, ev.year, ev.month, ev.coveredWh, ev.confirmedWh) == (ENT, 2007, 1, 1_000_000, 2_500_000)
    e = refused(w, _retire(w, 2, 1), "enterprise", "ExceedsConfirmedPurchase")   # 1 + 2 MWh > 2.5 MWh
    assert list(e.args_) == [ENT, 2007, 1, 3_000_000, 2_500_000]
    w.tx(_retire(w, 1, 1), "enterprise")                                            # 2 MWh ≤ 2.5 MWh
    assert gc.coveredWh(ENT, 2007, 1) == 2_000_000
    e = refused(w, _retire(w, 1, 1), "enterprise", "ExceedsConfirmedPurchase")   # the tally counts both
    assert list(e.args_)[3:] == [3_000_000, 2_500_000]
    assert (gc.balanceOf(1, w.acct["enterprise"]), gc.retirementCount(), gc.issuance(1).retired) == (3, 2, 2)


def test_retirement_for_an_unconfirmed_month_is_refused(market: World) -> None:
    w, gc = market, market.dep.certificates
    # February is recorded and submitted but not confirmed: it does not count
    win = w.dep.emissions.monthWindow(ENT, 2007, 2)
    reading = Reading(w.device, 702_001, win.start, win.start + 3_600, 1, 4_000_000, 0, 0)
    report, _ = report_for([reading], bytes(w.dep.anchor.configDigest()), win.start, win.end)
    w.tx(w.dep.anchor.functions.anchor(as_tuple(report), sign_report(report, w.dep.domain.separator,
                                                                     [w.oracle_signer(i) for i in (1, 2, 3)])), "oracle-1")
    rid = workflow.record_month(w.dep, w.acct["enterprise"], ENT, w.device, 2007, 2, w.factor_set)
    assert w.dep.emissions.record(rid).activityAmount == 4_000_000 and w.dep.emissions.record(rid).status == 2
    e = refused(w, _retire(w, 1, 2), "enterprise", "ExceedsConfirmedPurchase")
    assert list(e.args_) == [ENT, 2007, 2, 1_000_000, 0]
    e = refused(w, _retire(w, 1, 3), "enterprise", "ExceedsConfirmedPurchase")   # no record at all
    assert list(e.args_)[4] == 0
    # another year's same month and another enterprise's tally are separate
    refused(w, w.dep.certificates.functions.retire(1, 1, 2008, 1, BENEFICIARY), "enterprise", "ExceedsConfirmedPurchase")
    assert (gc.coveredWh(ENT, 2007, 2), gc.coveredWh(ENT2, 2007, 1)) == (0, 0)


def test_another_enterprises_purchase_does_not_cover_it(market: World) -> None:
    w = market
    w.tx(w.dep.certificates.functions.transfer(1, w.acct["enterprise2"], 1), "enterprise")
    e = refused(w, _retire(w, 1, 1), "enterprise2", "ExceedsConfirmedPurchase")   # enterprise's January is not enterprise2's
    assert list(e.args_) == [ENT2, 2007, 1, 1_000_000, 0]


def test_outsider_is_refused_before_the_cap(market: World) -> None:
    w = market
    refused(w, _retire(w, 1, 1), "outsider", "NotActiveParticipant")
    refused(w, _retire(w, 1, 1), "verifier", "NotActiveParticipant")
    refused(w, _retire(w, 3, 1), "outsider", "NotActiveParticipant")   # beyond the cap too: access first


# ------------------------------------------------------------------ residual factor
def test_residual_factor_code_and_scale(chain: World) -> None:
    w = chain
    assert bytes(w.dep.factors.RESIDUAL_EF()) == residual_ef_code() == keccak256(b"RESIDUAL_EF_KGCO2_PER_KWH")
    e = refused(w, w.dep.factors.functions.publishFactorSet(2007, 2007, [residual_ef_code()], [6_500_000], [6], "test", "bad scale"),
                "regulator", "InvalidFactorScale")
    assert list(e.args_)[1:] == [6, 4]


# ------------------------------------------------------------------ scope2_lines
def test_scope2_lines_equal_the_hand_computation(chain: World) -> None:
    w = chain
    grid = bytes(w.dep.factors.GRID_EF())
    res = w.tx(w.dep.factors.functions.publishFactorSet(2006, 2010, [grid, residual_ef_code()], [GRID_EF_SCALED, TEST_RESIDUAL],
                                                        [4, 4], "环办气候函〔2023〕43号; residual: test value", "with residual"), "regulator")
    set_id = w.dep.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
    workflow.assign_factor_set(w.dep, w.acct["regulator"], ENT, 2007, set_id)
    _certificates(w, 3)
    r1 = confirm_purchase(w, 1, 2_500_000)
    r2 = confirm_purchase(w, 2, 1_234_567)
    w.tx(_retire(w, 2, 1), "enterprise")
    w.tx(_retire(w, 1, 2), "enterprise")
    rows = scope2_lines(w.dep, ENT, 2007)
    assert [r["month"] for r in rows] == list(range(1, 13))
    jan, feb, mar = rows[0], rows[1], rows[2]
    assert (jan["purchased_wh"], jan["record_ids"], jan["covered_wh"]) == (2_500_000, [r1], 2_000_000)
    assert (feb["purchased_wh"], feb["record_ids"], feb["covered_wh"]) == (1_234_567, [r2], 1_000_000)
    for r in rows:
        assert r["purchased_wh"] == w.dep.certificates.confirmedPurchaseWh(ENT, 2007, r["month"])
        assert (r["factor_set_id"], r["residual_ef"], r["note"]) == (set_id, TEST_RESIDUAL, None)
    # location-based: ⌊2,500,000 × 5703 / 10^7 + ½⌋ = ⌊1425.75 + ½⌋ = 1426; ⌊1,234,567 × 5703 / 10^7 + ½⌋ = ⌊704.07… + ½⌋ = 704
    assert (jan["location_kg"], feb["location_kg"]) == (1426, 704)
    assert jan["location_kg"] == w.dep.emissions.record(r1).emissionsKg
    # market-based: (2,500,000 − 2,000,000) × 6500 / 10^7 = 325.0 → 325; (1,234,567 − 1,000,000) × 6500 / 10^7 = 152.47… → 152
    assert (jan["market_kg"], feb["market_kg"]) == (325, 152)
    assert (mar["purchased_wh"], mar["location_kg"], mar["covered_wh"], mar["market_kg"], mar["retirements"]) == (0, 0, 0, 0, [])
    # provenance: the retirements (serials) that cover each month
    assert [(x["retirement_id"], x["first_serial"], x["last_serial"], x["certificates"]) for x in jan["retirements"]] == [(1, 1, 2, 2)]
    assert [(x["retirement_id"], x["first_serial"], x["last_serial"]) for x in feb["retirements"]] == [(2, 3, 3)]
    assert jan["retirements"][0]["tx_hash"].startswith("0x")


def test_scope2_market_based_is_none_without_a_residual_factor(chain: World) -> None:
    w = chain
    _certificates(w, 1)
    rid = confirm_purchase(w, 1, 2_500_000)
    w.tx(_retire(w, 1, 1), "enterprise")
    jan = scope2_lines(w.dep, ENT, 2007)[0]
    assert (jan["factor_set_id"], jan["residual_ef"], jan["market_kg"], jan["note"]) == (w.factor_set, None, None, NO_RESIDUAL)
    assert (jan["purchased_wh"], jan["covered_wh"], jan["location_kg"]) == (2_500_000, 1_000_000, w.dep.emissions.record(rid).emissionsKg)
    # an enterprise-year with no factor set assigned: None too, with its own note
    assert scope2_lines(w.dep, ENT, 2008)[0]["note"] == "no factor set assigned to the enterprise-year"
    with pytest.raises(ValueError, match="1971–9999"):
        scope2_lines(w.dep, ENT, 1970)
