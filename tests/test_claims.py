"""Neutrality claims (issue 13) on a real Anvil node: NeutralityClaims' rules (coverage by CCER
retirements of the claimant, one claim per retirement, never below the Confirmed records, outsider
and wrong-role refusals, withdraw and invalidate), the Python reads and writes
(ledger/offsets/claims.py), the API routes and the public verification page."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from ledger.accounting.assets import ccer_id
from ledger.accounting.emissions import fuel_co2_code, fuel_emissions_kg
from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.offsets import claims
from ledger.offsets.claims import ClaimInputError, make_declaration
from ledger.records.indexer import events
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import USCC, World

YEAR = 2021
FUEL = 4                       # EmissionsRegistry.ActivityType.FuelCombustion
COAL = b"COAL".ljust(32, b"\0")
#: 0.03085 tC/GJ × 99 % × 44/12 kgCO2/GJ × 1e6 (as tests/test_allocation_compliance.py).
COAL_FACTOR = 111_985_500
FUEL_MJ = 400_000              # → 44 794 kgCO2 confirmed
PROJECT, VINTAGE = 2001, 2021
PREFIX = "CCER-CN-2001-2021-"
H = keccak256(b"qualifying explanatory statement")
ZERO32 = bytes(32)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cl(world: World) -> Iterator[SimpleNamespace]:
    """On the session world: a confirmed annual coal record of ``enterprise`` for 2021 (44 794 kgCO2),
    a 2022 record still Draft, a confirmed record of ``enterprise2``; CCER project 2001 with one
    serialised batch of 100 t; retirements (certificates) by ``enterprise`` of 30 t (``a``), 20 t
    (``b``) and 10 t (``c``), and by ``enterprise2`` of 10 t (``other``). Reverted at the end."""
    w, d, c = world, world.dep, world.client
    snap = c.rpc("evm_snapshot")
    a = w.acct
    try:
        res = w.tx(d.factors.functions.publishFactorSet(2019, 2030, [fuel_co2_code(COAL)], [COAL_FACTOR], [6],
                                                      "0.03085 tC/GJ (MEE notice 8 Jun 2022) × 99% × 44/12", "coal"), "regulator")
        fuel_set = d.factors.decode_events(res, "FactorSetPublished")[0].factorSetId
        rid = {}
        for who in ("enterprise", "enterprise2"):
            w.tx(d.emissions.functions.assignFactorSet(org_id(USCC[who]), YEAR, fuel_set), "regulator")
            res = w.tx(d.emissions.functions.recordDeclared(FUEL, COAL, YEAR, 0, FUEL_MJ, fuel_set, H, 0), who)
            rid[who] = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
            f = d.emissions.functions
            c.send([Call.of(f.submit(rid[who]), a[who])])
            c.send([Call.of(f.assignVerifier(rid[who], a["verifier"]), a["regulator"])])
            c.send([Call.of(f.attest(rid[who], keccak256(b"report"), ZERO32), a["verifier"])])
            c.send([Call.of(f.confirm(rid[who]), a["regulator"])])
        w.tx(d.emissions.functions.assignFactorSet(org_id(USCC["enterprise"]), YEAR + 1, fuel_set), "regulator")
        res = w.tx(d.emissions.functions.recordDeclared(FUEL, COAL, YEAR + 1, 0, 1_000, fuel_set, H, 0), "enterprise")
        draft = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
        w.tx(d.ccer.functions.registerProject(PROJECT, a["owner"], keccak256(b"CMS-002-V01"), b"620000".ljust(32, b"\0"),
                                             1_700_000_000, 1_600_761_600, "Gansu wind farm"), "registry")
        res = w.tx(d.ccer.functions.issueBatch(PROJECT, VINTAGE, 100, PREFIX, 1, 100, keccak256(b"issuance")), "registry")
        batch = d.ccer.decode_events(res, "BatchIssued")[0].batchId
        token = ccer_id(VINTAGE, PROJECT)
        w.tx(d.assets.functions.safeTransferFrom(a["owner"], a["enterprise"], token, 60, b""), "owner")
        w.tx(d.assets.functions.safeTransferFrom(a["owner"], a["enterprise2"], token, 10, b""), "owner")
        certs = {}
        for name, who, amount in (("a", "enterprise", 30), ("b", "enterprise", 20), ("c", "enterprise", 10),
                                  ("other", "enterprise2", 10)):
            req = (a[who], batch, amount, "", 0, 0, f"{who} (碳中和)", "carbon neutrality 2021", "")
            res = w.tx(d.ccer.functions.retire(req), who)
            certs[name] = d.ccer.decode_events(res, "RetirementCertified")[0].certificateId
        rec = d.emissions.record(rid["enterprise"])
        yield SimpleNamespace(w=w, d=d, c=c, rid=rid, draft=draft, certs=certs, batch=batch,
                              start=int(rec.periodStart), end=int(rec.periodEnd), confirmed=int(rec.emissionsKg))
    finally:
        c.rpc("evm_revert", snap)
        c.rewind()


@pytest.fixture()
def s(cl: SimpleNamespace, chain: World) -> SimpleNamespace:
    """The module's claims world, reverted after each test."""
    return cl


def decl(s: SimpleNamespace, certs: list[str], kg: int | None = None, records: list[int] | None = None,
         **over: Any) -> Any:
    d = make_declaration("ISO14068-1", s.start, s.end, s.confirmed if kg is None else kg, H,
                         [s.rid["enterprise"]] if records is None else records, [s.certs[n] for n in certs])
    return dataclasses.replace(d, **over) if over else d


def refused(s: SimpleNamespace, fn: Any, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        s.c.preflight([Call.of(fn, s.w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


# ----------------------------------------------------------------------------- the contract
def test_confirmed_record_and_retirements_are_as_the_fixture_says(s: SimpleNamespace) -> None:
    assert s.confirmed == fuel_emissions_kg(FUEL_MJ, COAL_FACTOR) == 44_794


def test_declare_with_sufficient_retirements_succeeds_and_reads_back(s: SimpleNamespace) -> None:
    cid, res = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"], kg=45_000))
    v = claims.read_claim(s.d, cid)
    assert (v.status, v.standard, v.emissions_kg, v.confirmed_kg, v.retired_t) == ("declared", "ISO14068-1", 45_000, 44_794, 50)
    assert v.claimant == "0x" + org_id(USCC["enterprise"]).hex() and not v.is_event_claim
    assert (v.period_start, v.period_end) == (s.start, s.end)
    assert [r.record_id for r in v.records] == [s.rid["enterprise"]] and v.records[0].status == "confirmed"
    assert [(r.certificate_id, r.amount_t, r.serials) for r in v.retirements] == [
        (s.certs["a"], 30, f"{PREFIX}1 to 30"), (s.certs["b"], 20, f"{PREFIX}31 to 50")]
    assert v.retirements[0].beneficiary == "enterprise (碳中和)"
    assert v.declared_block == res.block_number and v.read_block >= v.declared_block
    assert s.d.claims.claimOfRetirement(s.certs["a"]) == cid and s.d.claims.claimOfRetirement(s.certs["c"]) == 0
    assert [x.claim_id for x in claims.claims_of(s.d, org_id(USCC["enterprise"]))] == [cid]
    assert claims.claims_of(s.d, org_id(USCC["enterprise2"])) == []
    print(f"declare gas (1 record, 2 retirements): {res.gas_used}")


def test_declare_refuses_insufficient_coverage(s: SimpleNamespace) -> None:
    e = refused(s, s.d.claims.functions.declare(decl(s, ["a"])), "enterprise", "InsufficientCoverage")  # 30 t < 44.794 t
    assert e.args_ == (44_794, 30_000)


def test_a_retirement_backs_one_claim_only(s: SimpleNamespace) -> None:
    first, _ = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"]))
    event = {"recordIds": (), "subject": keccak256(b"an event")}          # an event claim: no record floor
    e = refused(s, s.d.claims.functions.declare(decl(s, ["b", "c"], kg=30_000, **event)), "enterprise", "RetirementAlreadyClaimed")
    assert e.args_ == (s.certs["b"], first)
    # the same certificate twice in one declaration counts once: refused by the contract too
    twice = decl(s, ["c"], certificateIds=(s.certs["c"], s.certs["c"]), kg=15_000, **event)
    refused(s, s.d.claims.functions.declare(twice), "enterprise", "RetirementAlreadyClaimed")
    # a withdrawn claim does not release its retirements
    claims.withdraw(s.d, s.w.acct["enterprise"], first)
    refused(s, s.d.claims.functions.declare(decl(s, ["a", "b"])), "enterprise", "RetirementAlreadyClaimed")


def test_declare_refuses_emissions_below_the_confirmed_records(s: SimpleNamespace) -> None:
    e = refused(s, s.d.claims.functions.declare(decl(s, ["a", "b"], kg=s.confirmed - 1)), "enterprise", "EmissionsBelowConfirmed")
    assert e.args_ == (s.confirmed - 1, s.confirmed)


def test_declare_refuses_a_retirement_of_another_organisation(s: SimpleNamespace) -> None:
    e = refused(s, s.d.claims.functions.declare(decl(s, ["a", "b", "other"])), "enterprise", "RetirementNotClaimants")
    assert e.args_[0] == s.certs["other"] and e.args_[1].lower() == s.w.acct["enterprise2"].lower()


def test_declare_refuses_records_that_are_not_the_claimants_confirmed_ones_in_the_period(s: SimpleNamespace) -> None:
    f = s.d.claims.functions
    refused(s, f.declare(decl(s, ["a", "b"], records=[s.rid["enterprise2"]])), "enterprise", "RecordNotClaimants")
    refused(s, f.declare(decl(s, ["a", "b"], records=[s.rid["enterprise"], s.draft])), "enterprise", "RecordNotConfirmed")
    refused(s, f.declare(decl(s, ["a", "b"], periodEnd=s.end - 1)), "enterprise", "RecordOutsidePeriod")
    refused(s, f.declare(decl(s, ["a", "b"], recordIds=(10**6,))), "enterprise", "UnknownRecord")
    refused(s, f.declare(decl(s, ["a", "b"], recordIds=(s.rid["enterprise"],) * 2)), "enterprise", "DuplicateRecord")


def test_declare_refuses_bad_input(s: SimpleNamespace) -> None:
    f, ok = s.d.claims.functions, decl(s, ["a", "b"])
    for over, error in (({"standard": 0}, "UnknownStandard"), ({"standard": 3}, "UnknownStandard"),
                        ({"periodEnd": s.start}, "InvalidPeriod"), ({"emissionsKg": 0}, "ZeroEmissions"),
                        ({"statementHash": ZERO32}, "MissingStatement"), ({"recordIds": ()}, "NoRecords"),
                        ({"certificateIds": ()}, "NoRetirements"), ({"certificateIds": (10**6,)}, "UnknownCertificate"),
                        ({"certificateIds": tuple(range(1, 66))}, "TooManyItems")):
        refused(s, f.declare(dataclasses.replace(ok, **over)), "enterprise", error)
    assert s.d.claims.claimCount() == 0                          # nothing was stored


def test_an_event_claim_needs_no_record_but_full_coverage(s: SimpleNamespace) -> None:
    d = make_declaration("PAS2060", s.start, s.start + 86_400, 9_500, H, [], [s.certs["c"]], event_name="2021 年会")
    cid, _ = claims.declare(s.d, s.w.acct["enterprise"], d)
    v = claims.read_claim(s.d, cid)
    assert v.is_event_claim and v.subject == "0x" + keccak256("2021 年会".encode()).hex() and v.standard == "PAS2060"
    assert v.records == [] and v.confirmed_kg == 0


def test_outsider_and_wrong_role_cannot_declare(s: SimpleNamespace) -> None:
    ok = s.d.claims.functions.declare(decl(s, ["a", "b"]))
    s.c.preflight([Call.of(ok, s.w.acct["enterprise"])])          # the same call passes for the claimant
    refused(s, ok, "outsider", "NotActiveParticipant")
    refused(s, ok, "verifier", "NotActiveParticipant")


def test_withdraw_only_by_the_claimant_and_only_once(s: SimpleNamespace) -> None:
    cid, _ = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"]))
    f = s.d.claims.functions
    refused(s, f.withdraw(cid), "outsider", "NotClaimant")
    refused(s, f.withdraw(cid), "enterprise2", "NotClaimant")
    refused(s, f.withdraw(cid), "regulator", "NotClaimant")
    refused(s, f.withdraw(cid + 1), "enterprise", "UnknownClaim")
    res = claims.withdraw(s.d, s.w.acct["enterprise"], cid)
    assert s.d.claims.decode_events(res, "ClaimWithdrawn")[0].by == s.w.acct["enterprise"]
    v = claims.read_claim(s.d, cid)
    assert v.status == "withdrawn" and v.closed_at > 0
    refused(s, f.withdraw(cid), "enterprise", "ClaimClosed")
    refused(s, f.invalidate(cid, H), "regulator", "ClaimClosed")


def test_invalidate_only_by_a_regulator_with_a_reason(s: SimpleNamespace) -> None:
    cid, _ = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"]))
    f = s.d.claims.functions
    refused(s, f.invalidate(cid, H), "outsider", "NotRegulator")
    refused(s, f.invalidate(cid, H), "enterprise", "NotRegulator")
    refused(s, f.invalidate(cid, ZERO32), "regulator", "MissingReason")
    with pytest.raises(ClaimInputError):
        claims.invalidate(s.d, s.w.acct["regulator"], cid, "  ")
    claims.invalidate(s.d, s.w.acct["regulator"], cid, "retirements double counted in another registry")
    v = claims.read_claim(s.d, cid)
    assert v.status == "invalidated" and v.reason_hash == "0x" + keccak256(b"retirements double counted in another registry").hex()
    refused(s, f.withdraw(cid), "enterprise", "ClaimClosed")


def test_verification_by_the_assigned_verifier_only(s: SimpleNamespace) -> None:
    cid, _ = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"]))
    f, a = s.d.claims.functions, s.w.acct
    refused(s, f.assignVerifier(cid, a["verifier"]), "enterprise", "NotRegulator")
    refused(s, f.assignVerifier(cid, a["outsider"]), "regulator", "NotActiveParticipant")    # not a verifier
    refused(s, f.verify(cid, H), "verifier", "NotAssignedVerifier")                          # none assigned yet
    claims.assign_verifier(s.d, a["regulator"], cid, a["verifier"])
    refused(s, f.verify(cid, H), "outsider", "NotAssignedVerifier")
    refused(s, f.verify(cid, H), "enterprise", "NotAssignedVerifier")
    refused(s, f.verify(cid, ZERO32), "verifier", "MissingReport")
    with pytest.raises(ClaimInputError):
        claims.verify(s.d, a["verifier"], cid, ZERO32)
    report = keccak256(b"verification report of claim 1")
    claims.verify(s.d, a["verifier"], cid, report)
    v = claims.read_claim(s.d, cid)
    assert (v.status, v.verifier, v.verification_hash) == ("verified", a["verifier"], "0x" + report.hex())
    refused(s, f.verify(cid, report), "verifier", "ClaimNotDeclared")                        # attested once
    refused(s, f.assignVerifier(cid, a["verifier2"]), "regulator", "ClaimNotDeclared")
    claims.withdraw(s.d, a["enterprise"], cid)                                               # a verified claim can be withdrawn
    assert claims.read_claim(s.d, cid).status == "withdrawn"


@pytest.mark.parametrize(("kw", "field"), [
    ({"standard": "ISO 14064"}, "standard"), ({"period_end": 0}, "period"), ({"emissions_kg": 0}, "emissions_kg"),
    ({"statement_hash": ZERO32}, "statement_hash"), ({"record_ids": []}, "record_ids"),
    ({"certificate_ids": []}, "certificate_ids"), ({"certificate_ids": [1, 1]}, "certificate_ids"),
    ({"record_ids": [0]}, "record_ids"), ({"event_name": " "}, "event_name"),
    ({"certificate_ids": list(range(1, 66))}, "certificate_ids")])
def test_make_declaration_refuses_bad_input_naming_the_field(kw: dict[str, Any], field: str) -> None:
    args = {"standard": "PAS2060", "period_start": 100, "period_end": 200, "emissions_kg": 1, "statement_hash": H,
            "record_ids": [1], "certificate_ids": [1]} | kw
    with pytest.raises(ClaimInputError) as exc:
        make_declaration(**args)
    assert exc.value.field == field


def test_read_claim_of_an_unknown_id_raises(s: SimpleNamespace) -> None:
    with pytest.raises(claims.UnknownClaim):
        claims.read_claim(s.d, 1)


# ----------------------------------------------------------------------------- API and public page
API_ROLES = [("regulator", "REGULATOR_ROLE"), ("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"),
             ("verifier", "VERIFIER_ROLE")]


@pytest.fixture()
def api(s: SimpleNamespace, tmp_path: Path) -> tuple[SimpleNamespace, TestClient, dict[str, str]]:
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(s.d, store, None, custodial=[s.w.acct[n] for n, _ in API_ROLES])
    keys = {n: issue_key(store, s.d, org_id(USCC[n]), role) for n, role in API_ROLES}
    return s, TestClient(app), keys


def hdr(keys: dict[str, str], who: str, idem: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[who]}", **({"Idempotency-Key": idem} if idem else {})}


def body(s: SimpleNamespace, certs: list[str], **over: Any) -> dict[str, Any]:
    return {"standard": "ISO14068-1", "period_start": s.start, "period_end": s.end, "emissions_kg": 45_000,
            "statement_hash": "0x" + H.hex(), "record_ids": [s.rid["enterprise"]],
            "certificate_ids": [s.certs[n] for n in certs]} | over


def problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.json()["type"] == f"/v1/problems/{slug}", r.json()
    return r.json()


def test_api_declares_reads_lists_withdraws_and_replays(api: Any) -> None:
    s, http, keys = api
    r = http.post("/v1/claims", json=body(s, ["a", "b"]), headers=hdr(keys, "enterprise", "claim-1"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["status"], got["emissions_kg"], got["confirmed_kg"], got["retired_t"]) == ("declared", 45_000, 44_794, 50)
    assert [x["serials"] for x in got["retirements"]] == [f"{PREFIX}1 to 30", f"{PREFIX}31 to 50"]
    again = http.post("/v1/claims", json=body(s, ["a", "b"]), headers=hdr(keys, "enterprise", "claim-1"))
    assert again.json() == got and again.headers.get("Idempotency-Replayed") == "true"     # not declared twice
    assert s.d.claims.claimCount() == 1
    cid = got["claim_id"]
    assert http.get(f"/v1/claims/{cid}", headers=hdr(keys, "verifier")).json()["claim_id"] == cid
    org = "0x" + org_id(USCC["enterprise"]).hex()
    assert [c["claim_id"] for c in http.get("/v1/claims", params={"org": org}, headers=hdr(keys, "regulator")).json()["claims"]] == [cid]
    problem(http.post(f"/v1/claims/{cid}/withdraw", headers=hdr(keys, "enterprise2")), 409, "contract-refused")
    r = http.post(f"/v1/claims/{cid}/withdraw", headers=hdr(keys, "enterprise"))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    p = problem(http.post(f"/v1/claims/{cid}/invalidate", json={"reason": "late"}, headers=hdr(keys, "regulator")), 409,
                "contract-refused")
    assert p["error"] == "ClaimClosed"
    rows = events(http.app.state.ctx.index(), contract="NeutralityClaims")          # the indexer reads the claim's events
    assert [(r.event, r.args["claimId"]) for r in rows] == [("ClaimDeclared", cid), ("ClaimWithdrawn", cid)]


def test_api_refuses_bad_input_with_422_and_rules_with_409(api: Any) -> None:
    s, http, keys = api
    e = hdr(keys, "enterprise")
    for over in ({"standard": "ISO 14064-1"}, {"emissions_kg": 0}, {"statement_hash": "0x12"}, {"certificate_ids": []},
                 {"period_end": s.start}, {"record_ids": []}, {"certificate_ids": [1, 1]}, {"unknown": 1}):
        problem(http.post("/v1/claims", json=body(s, ["a", "b"]) | over, headers=e), 422, "validation-error")
    p = problem(http.post("/v1/claims", json=body(s, ["a"]), headers=e), 409, "contract-refused")
    assert p["error"] == "InsufficientCoverage"
    problem(http.get("/v1/claims", params={"org": "acme"}, headers=e), 422, "validation-error")
    problem(http.get("/v1/claims/99", headers=e), 404, "not-found")
    assert s.d.claims.claimCount() == 0                        # nothing was declared


def test_api_refuses_the_wrong_roles_with_403(api: Any) -> None:
    s, http, keys = api
    cid, _ = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"]))
    problem(http.post("/v1/claims", json=body(s, ["a", "b"]), headers=hdr(keys, "verifier")), 403, "wrong-role")
    problem(http.post(f"/v1/claims/{cid}/withdraw", headers=hdr(keys, "regulator")), 403, "wrong-role")
    problem(http.post(f"/v1/claims/{cid}/invalidate", json={"reason": "x"}, headers=hdr(keys, "enterprise")), 403, "wrong-role")
    assert http.get(f"/v1/claims/{cid}").status_code == 401
    problem(http.post(f"/v1/claims/{cid}/invalidate", json={"reason": ""}, headers=hdr(keys, "regulator")), 422, "validation-error")
    problem(http.post(f"/v1/claims/{cid}/verifier", json={"verifier": s.w.acct["verifier"]}, headers=hdr(keys, "enterprise")),
            403, "wrong-role")
    problem(http.post(f"/v1/claims/{cid}/verifier", json={"verifier": "0x12"}, headers=hdr(keys, "regulator")), 422, "validation-error")
    r = http.post(f"/v1/claims/{cid}/verifier", json={"verifier": s.w.acct["verifier"]}, headers=hdr(keys, "regulator", "v-1"))
    assert r.status_code == 200 and r.json()["verifier"] == s.w.acct["verifier"], r.text
    report = "0x" + keccak256(b"report").hex()
    problem(http.post(f"/v1/claims/{cid}/verification", json={"report_hash": report}, headers=hdr(keys, "regulator")), 403, "wrong-role")
    problem(http.post(f"/v1/claims/{cid}/verification", json={"report_hash": "0x" + "00" * 32}, headers=hdr(keys, "verifier")),
            422, "validation-error")
    r = http.post(f"/v1/claims/{cid}/verification", json={"report_hash": report}, headers=hdr(keys, "verifier"))
    assert r.status_code == 200 and (r.json()["status"], r.json()["verification_hash"]) == ("verified", report), r.text
    r = http.post(f"/v1/claims/{cid}/invalidate", json={"reason": "double counted"}, headers=hdr(keys, "regulator"))
    assert r.status_code == 200 and r.json()["status"] == "invalidated", r.text
    assert r.json()["reason_hash"] == "0x" + keccak256(b"double counted").hex()


def test_public_page_shows_the_claim_read_from_the_chain_and_404_for_unknown(api: Any) -> None:
    s, http, keys = api
    cid, res = claims.declare(s.d, s.w.acct["enterprise"], decl(s, ["a", "b"], kg=45_000))
    r = http.get(f"/portal/claims/{cid}")                       # no session, no key
    assert r.status_code == 200, r.text
    html = r.text
    block = int(s.c.rpc("eth_blockNumber"), 16)
    assert f"Verified on chain at block {block}" in html and f"declared in block {res.block_number}" in html
    assert "ISO14068-1 — ISO 14068-1:2023" in html
    assert "2021-01-01 00:00 +01:00 – 2022-01-01 00:00 +01:00" in html     # the claimant's offset (+01:00)
    assert "45.000 tCO2 (45000 kgCO2)" in html and "44.794 tCO2" in html
    assert f'href="/v1/audit/records/{s.rid["enterprise"]}"' in html
    assert f"{PREFIX}1 to 30" in html and f"{PREFIX}31 to 50" in html and "enterprise (碳中和)" in html
    assert 'id="status">declared<' in html and "no third-party verification recorded" in html
    claims.assign_verifier(s.d, s.w.acct["regulator"], cid, s.w.acct["verifier"])
    claims.verify(s.d, s.w.acct["verifier"], cid, keccak256(b"report"))
    html = http.get(f"/portal/claims/{cid}").text
    assert 'id="status">verified<' in html and f"verified by <code>{s.w.acct['verifier']}</code>" in html
    claims.invalidate(s.d, s.w.acct["regulator"], cid, "double counted")
    html = http.get(f"/portal/claims/{cid}").text
    assert 'id="status">invalidated<' in html and keccak256(b"double counted").hex() in html
    assert f"Verified on chain at block {int(s.c.rpc('eth_blockNumber'), 16)}" in html          # read again, not stored
    assert http.get(f"/portal/claims/{cid + 1}").status_code == 404
    assert http.get("/portal/claims/0").status_code == 422
