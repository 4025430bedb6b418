"""Neutrality claims read the market-based scope-2 line (issue 13: "the market-based line feeds the
carbon account and claims") on a real Anvil: GreenCertificates.purchaseRecords / marketBasedKg equal
``scope2_lines``; a claim covering purchased electricity is floored at the market-based figure when
the enterprise-year's factor set holds RESIDUAL_EF (once per enterprise-month, certificates at 0) and
at the location-based records otherwise; the claim stores both figures and the public page says
which basis was used. The attacker here is an enterprise that would claim less than it emitted: a
claim below the market-based floor is refused, and certificates it has not retired lower nothing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.accounting.assets import ccer_id
from ledger.accounting.emissions import residual_ef_code
from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, meter_serial_hash
from ledger.offsets import claims
from ledger.offsets.claims import make_declaration
from ledger.records import workflow
from ledger.records.scope2 import scope2_lines
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import CAL_FROM, CAL_UNTIL, GRID_EF_SCALED, USCC, World
from tests.helpers import confirm_purchase
from tests.test_market_scope2 import ENT, TEST_RESIDUAL, _certificates, _retire

STATEMENT = keccak256(b"qualifying explanatory statement")
PROJECT, VINTAGE = 2007, 2007


def _ccer_retirement(w: World, tonnes: int) -> int:
    """A CCER project with one batch of 10 t to ``owner``, ``tonnes`` moved to ``enterprise`` and
    retired by it; the retirement certificate id."""
    a, d = w.acct, w.dep
    w.tx(d.ccer.functions.registerProject(PROJECT, a["owner"], keccak256(b"CMS-002-V01"), b"620000".ljust(32, b"\0"),
                                         1_100_000_000, 1_100_000_000, "Gansu wind farm"), "registry")
    res = w.tx(d.ccer.functions.issueBatch(PROJECT, VINTAGE, 10, "CCER-CN-2007-2007-", 1, 10, keccak256(b"issuance")), "registry")
    batch = d.ccer.decode_events(res, "BatchIssued")[0].batchId
    w.tx(d.assets.functions.safeTransferFrom(a["owner"], a["enterprise"], ccer_id(VINTAGE, PROJECT), tonnes, b""), "owner")
    res = w.tx(d.ccer.functions.retire((a["enterprise"], batch, tonnes, "", 0, 0, "enterprise (碳中和)", "neutrality 2007", "")),
               "enterprise")
    return int(d.ccer.decode_events(res, "RetirementCertified")[0].certificateId)


def _residual_set(w: World) -> int:
    """A factor set with the grid factor and a test residual factor assigned to the enterprise's 2007."""
    grid = bytes(w.dep.factors.GRID_EF())
    res = w.tx(w.dep.factors.functions.publishFactorSet(2006, 2010, [grid, residual_ef_code()], [GRID_EF_SCALED, TEST_RESIDUAL],
                                                        [4, 4], "环办气候函〔2023〕43号; residual: test value", "with residual"), "regulator")
    set_id = int(w.dep.factors.decode_events(res, "FactorSetPublished")[0].factorSetId)
    workflow.assign_factor_set(w.dep, w.acct["regulator"], ENT, 2007, set_id)
    return set_id


@pytest.fixture()
def purchases(chain: World) -> SimpleNamespace:
    """January (2.5 MWh) and February (1,234,567 Wh) 2007 Confirmed under a set with RESIDUAL_EF; 2
    certificates retired against January and 1 against February; a CCER retirement of 2 t."""
    w = chain
    _residual_set(w)
    _certificates(w, 3)
    r1, r2 = confirm_purchase(w, 1, 2_500_000), confirm_purchase(w, 2, 1_234_567)
    w.tx(_retire(w, 2, 1), "enterprise")
    w.tx(_retire(w, 1, 2), "enterprise")
    cert = _ccer_retirement(w, 2)
    jan, feb = w.dep.emissions.record(r1), w.dep.emissions.record(r2)
    return SimpleNamespace(w=w, r1=r1, r2=r2, cert=cert, start=int(jan.periodStart), end=int(feb.periodEnd),
                           location=int(jan.emissionsKg) + int(feb.emissionsKg))


def _decl(p: SimpleNamespace, kg: int, records: list[int]) -> Any:
    return make_declaration("PAS2060", p.start, p.end, kg, STATEMENT, records, [p.cert])


def _market(gc: Any, org: bytes, year: int, month: int) -> tuple[bool, int]:
    r = gc.marketBasedKg(org, year, month)
    return bool(r.published), int(r.kg)


def _refused(w: World, d: Any, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(w.dep.claims.functions.declare(d), w.acct["enterprise"])])
    assert exc.value.error == error, exc.value
    return exc.value


def test_market_based_views_equal_scope2_lines(purchases: SimpleNamespace) -> None:
    p, gc = purchases, purchases.w.dep.certificates
    rows = scope2_lines(p.w.dep, ENT, 2007)
    for row in rows:
        m = row["month"]
        assert list(gc.purchaseRecords(ENT, 2007, m)) == row["record_ids"]
        assert _market(gc, ENT, 2007, m) == (True, row["market_kg"])
    # (2,500,000 − 2,000,000) × 6500 / 10^7 = 325; (1,234,567 − 1,000,000) × 6500 / 10^7 = 152.47 → 152
    assert (rows[0]["market_kg"], rows[1]["market_kg"]) == (325, 152)
    assert list(gc.purchaseRecords(ENT, 2007, 0)) == [] and list(gc.purchaseRecords(ENT, 2007, 13)) == []


def test_a_claim_is_floored_at_the_market_based_figure(purchases: SimpleNamespace) -> None:
    p = purchases
    assert p.location == 1426 + 704                      # the records' location-based kgCO2 (grid 0.5703)
    e = _refused(p.w, _decl(p, 476, [p.r1, p.r2]), "EmissionsBelowConfirmed")   # 325 + 152 = 477
    assert list(e.args_) == [476, 477]
    cid, res = claims.declare(p.w.dep, p.w.acct["enterprise"], _decl(p, 477, [p.r1, p.r2]))
    print(f"declare gas (2 purchased-electricity months market-based, 1 retirement): {res.gas_used}")
    v = claims.read_claim(p.w.dep, cid)
    assert (v.confirmed_kg, v.location_based_kg, v.market_based_months, v.scope2_basis) == (477, 2130, 2, "market-based")
    assert [r.purchased_electricity for r in v.records] == [True, True]
    ev = p.w.dep.claims.get_logs("ClaimDeclared", 0)[-1].event
    assert (ev.claim.confirmedKg, ev.claim.marketBasedMonths) == (477, 2)


def test_a_month_enters_once_for_all_its_meters(purchases: SimpleNamespace) -> None:
    p, w = purchases, purchases.w
    meter2 = device_id(USCC["enterprise"], "meter-2")
    w.tx(w.dep.devices.functions.registerDevice(meter2, ENT, Signer(new_private_key()).address, 1,
                                                meter_serial_hash("meter-2")), "enterprise")
    w.tx(w.dep.devices.functions.recordCalibration(meter2, CAL_FROM, CAL_UNTIL, keccak256(b"cal")), "calibration")
    r3 = confirm_purchase(w, 1, 1_500_000, device=meter2)
    assert list(w.dep.certificates.purchaseRecords(ENT, 2007, 1)) == [p.r1, r3]
    # January: (2.5 + 1.5 − 2.0 covered) MWh × 0.65 = 1300 kgCO2, whether one or both meters are listed
    assert _market(w.dep.certificates, ENT, 2007, 1) == (True, 1300)
    for records in ([p.r1, r3], [p.r1]):
        assert list(_refused(w, _decl(p, 1299, records), "EmissionsBelowConfirmed").args_) == [1299, 1300]
        c = w.dep.claims.functions.declare(_decl(p, 1300, records))
        assert w.client.preflight([Call.of(c, w.acct["enterprise"])])[0] > 0        # accepted at exactly the floor
    cid, _ = claims.declare(w.dep, w.acct["enterprise"], _decl(p, 1300, [p.r1, r3]))
    v = claims.read_claim(w.dep, cid)
    assert (v.confirmed_kg, v.location_based_kg, v.market_based_months, v.scope2_basis) == (1300, 2281, 1, "market-based")
    # January only: its month's figure, not February's (152 kgCO2 more)
    assert _market(w.dep.certificates, ENT, 2007, 2) == (True, 152)


def test_without_a_residual_factor_the_claim_stays_location_based(chain: World) -> None:
    w = chain                                            # the world's set: grid factor, no RESIDUAL_EF
    _certificates(w, 1)
    rid = confirm_purchase(w, 1, 2_500_000)
    w.tx(_retire(w, 1, 1), "enterprise")                 # a certificate retired, but no market-based line exists
    assert _market(w.dep.certificates, ENT, 2007, 1) == (False, 0)
    cert = _ccer_retirement(w, 2)
    rec = w.dep.emissions.record(rid)
    d = make_declaration("ISO14068-1", int(rec.periodStart), int(rec.periodEnd), 1425, STATEMENT, [rid], [cert])
    e = _refused(w, d, "EmissionsBelowConfirmed")
    assert list(e.args_) == [1425, 1426]                 # the location-based record, certificates or not
    cid, _ = claims.declare(w.dep, w.acct["enterprise"],
                            make_declaration("ISO14068-1", int(rec.periodStart), int(rec.periodEnd), 1426, STATEMENT, [rid], [cert]))
    v = claims.read_claim(w.dep, cid)
    assert (v.confirmed_kg, v.location_based_kg, v.market_based_months, v.scope2_basis) == (1426, 1426, 0, "location-based")


def test_unretired_certificates_lower_nothing(chain: World) -> None:
    w = chain
    _residual_set(w)
    _certificates(w, 3)                                  # held by the enterprise, never retired
    rid = confirm_purchase(w, 1, 2_500_000)
    cert = _ccer_retirement(w, 2)
    rec = w.dep.emissions.record(rid)
    # 2,500,000 Wh × 6500 / 10^7 = 1625 kgCO2: the whole month at the residual factor
    d = make_declaration("ISO14068-1", int(rec.periodStart), int(rec.periodEnd), 1624, STATEMENT, [rid], [cert])
    assert list(_refused(w, d, "EmissionsBelowConfirmed").args_) == [1624, 1625]


def test_the_public_page_and_api_name_the_basis(purchases: SimpleNamespace, tmp_path: Any) -> None:
    p = purchases
    cid, _ = claims.declare(p.w.dep, p.w.acct["enterprise"], _decl(p, 500, [p.r1, p.r2]))
    app = create_app(p.w.dep, make_engine(sqlite_url(tmp_path / "api.sqlite")), None, custodial=[])
    http = TestClient(app)
    html = http.get(f"/portal/claims/{cid}").text
    assert 'id="scope2-basis">market-based' in html and "(2 months:" in html and "2.130 tCO2" in html
    assert "0.477 tCO2" in html                          # the floor used
    assert claims.read_claim(p.w.dep, cid).as_json()["scope2_basis"] == "market-based"
