"""The enterprise carbon account (碳账户, issue 13) on a real Anvil: the builder's figures equal the
sums of the records, balances and events it reads; the API's readers (the enterprise, its verifier,
the regulator) and refusals (outsider 403, unknown enterprise 404, bad year 422); the PDF report
parses with the expected pages; the portal page renders for the enterprise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from ledger.account import builder
from ledger.account.report_pdf import account_pdf, page_count
from ledger.accounting import compliance as rules
from ledger.accounting.assets import ccer_id, cea_id
from ledger.accounting.emissions import fuel_co2_code
from ledger.contracts._generated.emissions_registry import ActivityRecorded
from ledger.contracts._generated.green_certificates import CertificatesRetired
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.offsets import claims
from ledger.records import queries as records
from ledger.records import workflow
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import USCC, World
from tests.live_server import anchor_month, serving_node
from tests.test_allocation_compliance import COAL, COAL_FACTOR, fuel_mj_for_tonnes
from tests.test_api_market import YEAR, allocate_cea, fund, h, trade
from tests.test_green_certificates import BENEFICIARY, WIND, _anchor_hours, _plant

ROLES = {"regulator": "REGULATOR_ROLE", "enterprise": "ENTERPRISE_ROLE", "enterprise2": "ENTERPRISE_ROLE",
         "verifier": "VERIFIER_ROLE", "exchange": "EXCHANGE_ROLE", "registry": "REGISTRY_ROLE", "owner": "PROJECT_OWNER_ROLE"}
ENT = "0x" + org_id(USCC["enterprise"]).hex()
ENT2 = "0x" + org_id(USCC["enterprise2"]).hex()
#: The 2019 period's deadline in these tests (the preset's, end of 2021, lies behind the chain's wall clock).
DEADLINE = 4_102_444_800   # 2100-01-01T00:00Z
GEC_JAN = 1_167_606_000   # 2007-01-01T00:00:00+01:00 (enterprise2, the plant, is admitted at +01:00)
GEC_FEB = 1_170_284_400   # 2007-02-01T00:00:00+01:00


@pytest.fixture()
def acct(chain: World, tmp_path: Path):
    """January and February 2007 anchored and recorded (record 1 confirmed through the verifier,
    record 2 submitted); CEA-2019 pre-allocated (614 t), 150 t sold to enterprise2 in two trades; the
    2019 compliance period opened (deadline :data:`DEADLINE`); 500 CCER issued with serials, 200 moved to the enterprise, which
    retires 30 of them."""
    w = chain
    node = serving_node(w, tmp_path)
    anchor_month(w, node, 1, [7_000_000] * 10)     # > 1 MWh confirmed in January: room for one green certificate
    anchor_month(w, node, 2, [8_000_000] * 10)
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(w.dep, store, node, custodial=[w.acct[n] for n in ROLES])
    keys = {n: issue_key(store, w.dep, org_id(USCC[n]), r) for n, r in ROLES.items()}
    api = TestClient(app)
    r = api.post("/v1/regulator/completeness", json={"enterprise": ENT, "year": 2007,
                                                     "sources": [{"activity_type": 1, "subject": "0x" + w.device.hex()}]},
                 headers=h(keys, "regulator"))
    assert r.status_code == 200, r.text
    for m in (1, 2):
        r = api.post("/v1/enterprise/records", json={"device": "0x" + w.device.hex(), "year": 2007, "month": m, "factor_set_id": 1},
                     headers=h(keys, "enterprise"))
        assert r.status_code == 201, r.text
    workflow.assign_verifier(w.dep, w.acct["regulator"], 1, w.acct["verifier"])
    workflow.verdict(w.dep, w.acct["verifier"], 1, True, keccak256(b"report"), bytes(32))
    workflow.confirm(w.dep, w.acct["regulator"], 1)
    allocate_cea(w, api, keys)
    fund(w, "enterprise2", 1_000_000)
    body = {"atomic": True, "reference_close_fen": {f"CEA-{YEAR}": 5000},
            "trades": [trade(w, 1, w.acct["enterprise"], w.acct["enterprise2"], 100, 5200),
                       trade(w, 2, w.acct["enterprise"], w.acct["enterprise2"], 50, 5000)]}
    r = api.post("/v1/exchange/trade-batches", json=body, headers=h(keys, "exchange", "b1"))
    assert r.status_code == 200 and {t["status"] for t in r.json()["trades"]} == {"settled"}, r.text
    r = api.post("/v1/regulator/compliance-periods", json={"year": YEAR, "deadline": DEADLINE}, headers=h(keys, "regulator", "op"))
    assert r.status_code == 201, r.text
    r = api.post("/v1/registry/projects", json={"project": 7, "owner": w.acct["owner"], "methodology": "CCER-14-001-V01",
                                                "region": "CN-GD", "registered_at": 1_700_000_000, "crediting_start": 1_600_732_800,
                                                "name": "Offshore wind (test)"}, headers=h(keys, "registry", "p7"))
    assert r.status_code == 201, r.text
    r = api.post("/v1/registry/issuances", json={"project": 7, "vintage": 2023, "amount": 500, "serials": "T-7-2023-1 to 500"},
                 headers=h(keys, "registry", "i1"))
    assert r.status_code == 201, r.text
    batch = r.json()["batch_id"]
    w.tx(w.dep.assets.functions.safeTransferFrom(w.acct["owner"], w.acct["enterprise"], ccer_id(2023, 7), 200, b""), "owner")
    r = api.post("/v1/enterprise/retirements", json={"asset": "CCER-7-2023", "batch_id": batch, "amount": 30,
                                                     "beneficiary": "Enterprise (test)", "purpose": "voluntary"},
                 headers=h(keys, "enterprise", "r1"))
    assert r.status_code == 201, r.text
    # green certificates: enterprise2's wind farm, January 2007 anchored (2 h, 2.7 MWh), 2 certificates
    # moved to the enterprise, 1 retired against its purchased electricity of 2007-01
    gdev = _plant(w, calibrated_from=1_136_073_600)   # calibration valid from 2006-01-01
    _anchor_hours(w, gdev, GEC_JAN, GEC_FEB, [1_350_000] * 2, 1)
    w.tx(w.dep.certificates.functions.issue(gdev, 2007, 1, WIND, 0, 0, 2, w.acct["enterprise2"]), "registry")
    w.tx(w.dep.certificates.functions.transfer(1, w.acct["enterprise"], 2), "enterprise2")
    w.tx(w.dep.certificates.functions.retire(1, 1, 2007, 1, BENEFICIARY), "enterprise")
    # a neutrality claim for January 2007: record 1 (confirmed) backed by the 30 t CCER retirement
    rec = w.dep.emissions.record(1)
    cert = int(r.json()["certificate_id"])
    claim_id, _ = claims.declare(w.dep, w.acct["enterprise"], claims.make_declaration(
        "PAS2060", int(rec.periodStart), int(rec.periodEnd), int(rec.emissionsKg), keccak256(b"qualifying explanatory statement"), [1], [cert]))
    assert claim_id == 1
    return w, app, api, keys


# ------------------------------------------------------------------ builder
def test_account_emissions_equal_the_sums_of_the_records_with_their_provenance(acct) -> None:
    w, *_ = acct
    org = org_id(USCC["enterprise"])
    acc = builder.build_account(w.dep, org, 2007)
    recs = {r["record_id"]: r for r in records.iter_records(w.dep, enterprise=ENT, year=2007)}
    assert set(recs) == {1, 2} and recs[1]["status"] == "confirmed" and recs[2]["status"] == "submitted"
    kg1, kg2 = int(recs[1]["emissionsKg"]), int(recs[2]["emissionsKg"])
    assert kg1 > 0 and kg2 > kg1
    em = acc["emissions"]
    assert em["by_scope"]["scope2"] == {"confirmed": kg1, "in_review": kg2} and em["by_scope"]["scope1"] == {}
    assert em["total_kg"] == {"scope1": 0, "scope2": kg1 + kg2}
    assert [m["total_kg"] for m in em["by_month"][:3]] == [kg1, kg2, 0]
    assert em["by_source"] == [{"activity_type": "purchased_electricity", "subject": "0x" + w.device.hex(), "scope": "scope2",
                                "kg": {"confirmed": kg1, "in_review": kg2}, "total_kg": kg1 + kg2}]
    assert em["months"][0]["months"] == ["confirmed", "in_review"] + ["missing"] * 10
    wh = int(recs[1]["activityAmount"]) + int(recs[2]["activityAmount"])
    assert em["energy"]["purchased_electricity_mwh"] == pytest.approx(wh / 10**6)
    assert em["energy"]["energy_total_gj"] == pytest.approx(wh * 3.6 / 10**6)
    assert em["energy"]["intensity_kg_per_mwh_supplied"] is None and "not evaluable" in em["energy"]["intensity_note"]
    # provenance: the record's batches with their Merkle roots, and the transaction that recorded it
    a = w.dep.anchor
    for row in em["records"]:
        rec, prov = recs[row["record_id"]], row["provenance"]
        want = [int(a.currentBatch(a.deviceBatchAt(w.device, i))) for i in range(rec["firstBatchIndex"], rec["lastBatchIndex"] + 1)]
        assert [b["batch_id"] for b in prov["batches"]] == want and want
        assert [b["root"] for b in prov["batches"]] == ["0x" + a.batch(i).root.hex() for i in want]
        [lg] = [lg for lg in w.dep.emissions.get_logs(ActivityRecorded, 0) if lg.event.recordId == row["record_id"]]
        assert prov["recorded_tx"] == lg.tx_hash
    assert "confirmed_tx" in em["records"][0]["provenance"] and "confirmed_tx" not in em["records"][1]["provenance"]
    gec = acc["green_certificates"]
    [ret] = gec["items"]
    assert (gec["deployed"], gec["retired_mwh"], gec["retired_mwh_by_month"], gec["held_mwh"]) == (True, 1, {"1": 1}, 1)
    assert (ret["retirement_id"], ret["issuance_id"], ret["first_serial"], ret["last_serial"], ret["period"], ret["vintage"],
            ret["technology"], ret["beneficiary"]) == (1, 1, 1, 1, "2007-01", "2007-01", "wind", "0x" + BENEFICIARY.hex())
    [lg] = w.dep.certificates.get_logs(CertificatesRetired, 0)
    assert ret["tx_hash"] == lg.tx_hash and ret["plant_device"] == "0x" + w.dep.certificates.issuance(1).device.hex()
    assert gec["held"] == [{"issuance_id": 1, "plant_device": ret["plant_device"], "technology": "wind", "vintage": "2007-01", "mwh": 1}]
    [claim] = acc["neutrality_claims"]["items"]
    assert (claim["claim_id"], claim["standard"], claim["status"], claim["page"]) == (1, "PAS2060", "declared", "/portal/claims/1")
    assert claim["emissions_kg"] == kg1 and [x["record_id"] for x in claim["records"]] == [1] and claim["retired_t"] == 30
    # dual scope 2: January's confirmed purchase, 1 MWh of it covered; no residual factor in the demo set
    d = em["scope2_dual"]
    assert (d["purchased_wh"], d["covered_wh"], d["location_kg"]) == (int(recs[1]["activityAmount"]), 1_000_000, kg1)
    assert d["market_kg"] is None and d["note"] == "no residual factor published"
    assert d["months"][0]["retirements"][0]["retirement_id"] == 1 and d["months"][1]["purchased_wh"] == 0   # February not confirmed
    assert builder.build_account(w.dep, org, 2008)["neutrality_claims"]["items"] == []       # a claim of another year
    assert builder.build_account(w.dep, org, 2008)["green_certificates"]["items"] == []
    assert acc["compliance"] == {"opened": False, "note": "no compliance period opened for 2007"}
    assert [d["what"] for d in acc["deadlines"]][-2:] == ["annual emission report 2007", "verification of the 2007 report"]


def test_account_assets_trades_and_compliance_equal_the_chain(acct) -> None:
    w, *_ = acct
    org = org_id(USCC["enterprise"])
    acc = builder.build_account(w.dep, org, YEAR)
    al = acc["allowances"]
    assert (al["pre_allocation_t"], al["issued_t"]) == (614, 614) and len(al["issued"]) == 1
    assert al["held_t"] == int(w.call(w.dep.assets.functions.balanceOf(w.acct["enterprise"], cea_id(YEAR)))) == 614 - 150
    tr = acc["trades"]
    assert [(t["side"], t["quantity_t"], t["price_fen"]) for t in tr["trades"]] == [("sell", 100, 5200), ("sell", 50, 5000)]
    assert (tr["sold_t"], tr["bought_t"], tr["received_fen"]) == (150, 0, 100 * 5200 + 50 * 5000)
    assert all(t["counterparty"] == w.acct["enterprise2"] and t["tx_hash"] for t in tr["trades"])
    cc = acc["ccer"]
    assert cc["held_t"] == 200 - 30 == int(w.call(w.dep.assets.functions.balanceOf(w.acct["enterprise"], ccer_id(2023, 7))))
    assert [(c["amount_t"], c["serials"]) for c in cc["retired"]] == [(30, "T-7-2023-1 to 30")] and cc["retired_t"] == 30
    assert cc["surrendered"] == [] and cc["surrendered_t"] == 0
    assert {h["asset"]: h["quantity_t"] for h in acc["holdings"]} == {f"CEA-{YEAR}": 464, "CCER-7-2023": 170}
    co = acc["compliance"]
    [row] = w.dep.compliance.statusTable(YEAR, [org])
    assert co["opened"] and co["deadline"] == DEADLINE == acc["deadlines"][0]["due"]
    assert co["deadline_citation"] == rules.PERIOD_PRESETS[YEAR].citations["deadline"] != ""
    assert (co["obligation_t"], co["shortfall_t"], co["ccer_cap_t"], co["surrendered_t"]) == (
        int(row.obligation), int(row.shortfall), int(row.ccerCap), int(row.ceaSurrendered) + int(row.ccerSurrendered))
    assert co["status"] == "open" and co["ccer_cap_bps"] == 500
    # the other enterprise's account holds what it bought
    acc2 = builder.build_account(w.dep, org_id(USCC["enterprise2"]), YEAR)
    assert acc2["trades"]["bought_t"] == 150 and acc2["trades"]["paid_fen"] == 770_000 and acc2["allowances"]["held_t"] == 150


def _close_the_year(w: World, api: TestClient, keys: dict[str, str]) -> None:
    """2019 closable for the enterprise: 1000 MWh of electricity supplied and coal for 1000 t, both
    annual, confirmed; final allocation from them (COAL_GT300 benchmark)."""
    org = org_id(USCC["enterprise"])
    em = w.dep.emissions.functions
    res = w.tx(w.dep.factors.functions.publishFactorSet(2019, 2030, [fuel_co2_code(COAL)], [COAL_FACTOR], [6],
                                                      "0.03085 tC/GJ (MEE notice 8 Jun 2022) × 99% × 44/12", "coal"), "regulator")
    fs = w.dep.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
    w.tx(em.assignFactorSet(org, YEAR, fs), "regulator")
    w.tx(em.enrolSources(org, YEAR, [2, 4], [bytes(32), COAL]), "regulator")
    ev = keccak256(b"evidence")
    rids = []
    for kind, subject, amount, fset in ((2, bytes(32), 10**9, 0), (4, COAL, fuel_mj_for_tonnes(1000), fs)):
        res = w.tx(em.recordDeclared(kind, subject, YEAR, 0, amount, fset, ev, 0), "enterprise")
        rids.append(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)
    for rid in rids:
        w.tx(em.submit(rid), "enterprise")
        workflow.assign_verifier(w.dep, w.acct["regulator"], rid, w.acct["verifier"])
        workflow.verdict(w.dep, w.acct["verifier"], rid, True, keccak256(b"report"), bytes(32))
        workflow.confirm(w.dep, w.acct["regulator"], rid)
    r = api.post("/v1/regulator/final-allocations", json={"year": YEAR, "enterprises": [ENT]}, headers=h(keys, "regulator", "fa"))
    assert r.status_code == 201, r.text


def test_surrendered_ccer_serials_and_the_cap_used_follow_the_compliance_contract(acct) -> None:
    w, _, api, keys = acct
    _close_the_year(w, api, keys)
    # a legacy project (filed before 14 Mar 2017: eligible under the 2019 preset), 100 credits moved to the enterprise
    r = api.post("/v1/registry/projects", json={"project": 8, "owner": w.acct["owner"], "methodology": "CM-001-V01",
                                                "region": "CN-GS", "registered_at": 1_400_000_000, "crediting_start": 1_300_000_000,
                                                "name": "Legacy wind (test)"}, headers=h(keys, "registry", "p8"))
    assert r.status_code == 201, r.text
    r = api.post("/v1/registry/issuances", json={"project": 8, "vintage": 2016, "amount": 100, "serials": "L-8-2016-1 to 100"},
                 headers=h(keys, "registry", "i8"))
    assert r.status_code == 201, r.text
    w.tx(w.dep.assets.functions.safeTransferFrom(w.acct["owner"], w.acct["enterprise"], ccer_id(2016, 8), 100, b""), "owner")
    for asset, amount in (("CCER-8-2016", 40), (f"CEA-{YEAR}", 700)):
        r = api.post("/v1/enterprise/surrenders", json={"year": YEAR, "asset": asset, "amount": amount}, headers=h(keys, "enterprise", asset))
        assert r.status_code == 201, r.text
    org = org_id(USCC["enterprise"])
    acc = builder.build_account(w.dep, org, YEAR)
    [row] = w.dep.compliance.statusTable(YEAR, [org])
    co, cc = acc["compliance"], acc["ccer"]
    assert (co["obligation_t"], co["cea_surrendered_t"], co["ccer_surrendered_t"]) == (int(row.obligation), 700, 40) == (1000, 700, 40)
    assert co["ccer_cap_t"] == 50 and co["ccer_cap_used"] == pytest.approx(40 / 50)       # ⌊1000 × 5 %⌋ = 50 t
    assert co["shortfall_t"] == int(row.shortfall) == 260
    assert [(s["amount_t"], s["serials"]) for s in cc["surrendered"]] == [(40, "L-8-2016-1 to 40")] and cc["surrendered_t"] == 40
    assert sorted((s["asset"], s["amount_t"]) for s in co["surrenders"]) == [("CCER-8-2016", 40), (f"CEA-{YEAR}", 700)]
    assert {s["tx_hash"] for s in cc["surrendered"]} <= {s["tx_hash"] for s in co["surrenders"]}
    em = acc["emissions"]
    assert em["by_scope"]["scope1"] == {"confirmed": sum(r["emissions_kg"] for r in em["records"] if r["scope"] == "scope1")}
    assert rules.emissions_tonnes(em["total_kg"]["scope1"]) == 1000 == int(row.emissionsT)
    assert em["energy"]["electricity_supplied_mwh"] == 1000
    assert em["energy"]["intensity_kg_per_mwh_supplied"] == pytest.approx(em["total_kg"]["scope1"] / 1000)
    assert em["months"] and all(m == ["confirmed"] * 12 for m in (s["months"] for s in em["months"]))
    assert em["by_month"][0] == {"month": 0, "kg": {"confirmed": em["total_kg"]["scope1"]}, "total_kg": em["total_kg"]["scope1"]}
    assert [m["month"] for m in em["by_month"]] == list(range(13))        # annual records apart, not in January
    al = acc["allowances"]
    assert al["finalised"] and al["held_t"] == int(w.call(w.dep.assets.functions.balanceOf(w.acct["enterprise"], cea_id(YEAR))))
    assert al["issued_t"] == sum(i["amount_t"] for i in al["issued"]) == 614 + al["final_issued_t"]


def test_build_account_refuses_an_unknown_enterprise_and_a_bad_year(acct) -> None:
    w, *_ = acct
    with pytest.raises(builder.UnknownEnterprise, match="no enterprise"):
        builder.build_account(w.dep, keccak256(b"nobody"), 2007)
    with pytest.raises(builder.UnknownEnterprise):      # admitted, but not an enterprise
        builder.build_account(w.dep, org_id(USCC["verifier"]), 2007)
    with pytest.raises(ValueError, match="year must be"):
        builder.build_account(w.dep, org_id(USCC["enterprise"]), 1900)


# ------------------------------------------------------------------ API
def test_the_enterprise_its_verifier_and_the_regulator_read_the_account_others_are_refused(acct) -> None:
    w, _, api, keys = acct
    url = f"/v1/enterprises/{ENT}/carbon-account"
    for who in ("enterprise", "verifier", "regulator"):
        r = api.get(url, params={"year": 2007}, headers=h(keys, who))
        assert r.status_code == 200, (who, r.text)
        assert r.json()["emissions"]["total_kg"]["scope2"] > 0 and r.json()["enterprise"]["org_id"] == ENT
    # the JSON is the builder's account through the schema (CarbonAccountOut)
    got = api.get(url, params={"year": YEAR}, headers=h(keys, "regulator")).json()
    acc = builder.build_account(w.dep, org_id(USCC["enterprise"]), YEAR)
    assert got["ccer"]["retired"][0]["serials"] == "T-7-2023-1 to 30" and got["ccer"]["retired"][0]["certificate_id"] == 1
    assert got["trades"] == acc["trades"] and got["allowances"] == acc["allowances"] and got["deadlines"] == acc["deadlines"]
    assert got["compliance"]["obligation_t"] == acc["compliance"]["obligation_t"] and got["compliance"]["status"] == "open"
    assert got["green_certificates"] == acc["green_certificates"] and got["green_certificates"]["retired_mwh"] == 0
    got07 = api.get(url, params={"year": 2007}, headers=h(keys, "regulator")).json()
    acc07 = builder.build_account(w.dep, org_id(USCC["enterprise"]), 2007)
    assert got07["green_certificates"] == acc07["green_certificates"] and got07["green_certificates"]["retired_mwh"] == 1
    assert got07["neutrality_claims"]["items"][0]["claim_id"] == 1 and got07["neutrality_claims"] == acc07["neutrality_claims"]
    for who in ("enterprise2", "exchange", "owner"):
        r = api.get(url, params={"year": 2007}, headers=h(keys, who))
        assert r.status_code == 403 and r.json()["type"] == "/v1/problems/not-permitted", (who, r.text)
    # the verifier reviewed none of enterprise2's records
    r = api.get(f"/v1/enterprises/{ENT2}/carbon-account", params={"year": 2007}, headers=h(keys, "verifier"))
    assert r.status_code == 403
    r = api.get(f"/v1/enterprises/0x{keccak256(b'nobody').hex()}/carbon-account", params={"year": 2007}, headers=h(keys, "regulator"))
    assert r.status_code == 404 and r.json()["type"] == "/v1/problems/not-found"
    for bad in ({"year": 1800}, {"year": 10_000}, {"year": "abc"}, {}):
        r = api.get(url, params=bad, headers=h(keys, "enterprise"))
        assert r.status_code == 422 and r.json()["type"] == "/v1/problems/validation-error", bad
    r = api.get("/v1/enterprises/0x1234/carbon-account", params={"year": 2007}, headers=h(keys, "regulator"))
    assert r.status_code == 422
    assert api.get(url, params={"year": 2007}).status_code == 401
    assert api.get(url + ".pdf", params={"year": 2007}, headers=h(keys, "enterprise2")).status_code == 403


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def test_the_pdf_report_parses_with_the_expected_pages(acct) -> None:
    w, _, api, keys = acct
    r = api.get(f"/v1/enterprises/{ENT}/carbon-account.pdf", params={"year": YEAR}, headers=h(keys, "enterprise"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and r.content.rstrip().endswith(b"%%EOF")
    acc = builder.build_account(w.dep, org_id(USCC["enterprise"]), YEAR)
    assert _pdf_pages(r.content) == page_count(acc) == 4          # summary, charts, one table page, one appendix page
    assert re.search(rb"/Count\s+4\b", r.content)
    # many records spill the tables onto more pages: page_count follows and the PDF has them
    big = {**acc, "emissions": {**acc["emissions"], "records": [dict(_fake_row(), record_id=i) for i in range(1, 130)]}}
    pdf = account_pdf(big)
    assert page_count(big) > 4 and _pdf_pages(pdf) == page_count(big)


def _fake_row() -> dict:
    """A record row shaped like the builder's (for the pagination check of the report only)."""
    return {"record_id": 1, "activity_type": "purchased_electricity", "scope": "scope2", "subject": "0x" + "ab" * 32, "month": 1,
             "activity_amount": 1_000_000, "activity_unit": "Wh", "energy_mwh": 1.0, "energy_gj": 3.6, "emissions_kg": 570,
             "status": "confirmed", "provenance": {"record_id": 1, "batches": [], "recorded_tx": "0x" + "00" * 32}}


# ------------------------------------------------------------------ portal
def _session(app, key: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    r = c.post("/portal/login", data={"api_key": key})
    assert r.status_code == 303, r.text
    return c


def test_the_portal_page_shows_the_enterprise_its_account(acct) -> None:
    w, app, _, keys = acct
    c = _session(app, keys["enterprise"])
    page = c.get("/portal/enterprise/account", params={"year": 2007})
    assert page.status_code == 200, page.text
    html = page.text
    recs = {r["record_id"]: r for r in records.iter_records(w.dep, enterprise=ENT, year=2007)}
    kg = sum(int(r["emissionsKg"]) for r in recs.values())
    assert f'id="scope2-t">{kg / 1000:.3f}<' in html
    assert f'data-record="1" data-kg="{recs[1]["emissionsKg"]}"' in html and 'href="/portal/enterprise/records/2"' in html
    assert 'data-period="2007-01"' in html and 'data-status="confirmed"' in html and 'data-status="submitted"' in html
    assert 'href="/portal/enterprise/account.pdf?year=2007"' in html and 'href="/portal/enterprise/account"' in html   # PDF link, nav link
    assert 'data-gec-retirement="1"' in html and 'href="/portal/claims/1"' in html
    assert f'{int(recs[1]["emissionsKg"]) / 1000:.3f} (location-based)' in html     # the claim's floor and its scope-2 basis
    assert f'id="scope2-location-t">{int(recs[1]["emissionsKg"]) / 1000:.3f}<' in html and 'id="scope2-market-t">—<' in html and "no residual factor published" in html
    assert "+01:00" in html                              # deadlines in the enterprise's own offset
    y = c.get("/portal/enterprise/account", params={"year": YEAR}).text
    assert 'id="cea-held">464<' in y and 'id="ccer-retired">30<' in y and "T-7-2023-1 to 30" in y and 'id="obligation">' in y
    assert c.get("/portal/enterprise/account").status_code == 200          # default year: the newest with records
    pdf = c.get("/portal/enterprise/account.pdf", params={"year": 2007})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert c.get("/portal/enterprise/account", params={"year": 99}).status_code == 422
    reg = _session(app, keys["regulator"])
    assert reg.get("/portal/enterprise/account").status_code == 403
    assert TestClient(app, follow_redirects=False).get("/portal/enterprise/account").status_code == 303
