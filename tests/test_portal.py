"""Portal pages without a browser: sessions, CSRF, roles, refusals of bad input, the chart, and
provenance marks when a check fails. (The full journey in Chromium: test_portal_browser.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import issue_key, revoke_key
from api.portal.chart import MonthBar, emissions_chart_svg, nice_ceiling
from api.store import EvidenceFile
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import derive_encryption_key
from ledger.identifiers import org_id
from ledger.records import queries as records
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import USCC, World
from tests.live_server import anchor_month, serving_node


@pytest.fixture()
def site(chain: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two apps on one store: ``with_node`` serves readings; ``no_node`` runs no oracle node.
    January is anchored and recorded (record 1, assigned to the verifier); February anchored."""
    w = chain
    monkeypatch.setenv("CARBONLEDGER_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("CARBONLEDGER_EVIDENCE_MAX_BYTES", "1000")
    for n in ("enterprise", "regulator", "verifier"):     # readers of evidence register their X25519 keys
        w.tx(w.dep.participants.functions.setEncryptionKey(ev.public_key(derive_encryption_key(w.keys[n]))), n)
    node = serving_node(w, tmp_path)
    anchor_month(w, node, 1, [1_000_000] * 10)
    anchor_month(w, node, 2, [1_500_000] * 10)
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    custodial = [w.acct["enterprise"], w.acct["verifier"], w.acct["regulator"]]
    with_node = create_app(w.dep, store, node, custodial=custodial)
    no_node = create_app(w.dep, store, None, custodial=custodial)
    keys = {n: issue_key(store, w.dep, org_id(USCC[n]), role) for n, role in
            [("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"), ("regulator", "REGULATOR_ROLE"),
             ("verifier", "VERIFIER_ROLE"), ("verifier2", "VERIFIER_ROLE")]}
    api = TestClient(with_node)
    r = api.post("/v1/enterprise/records", json={"device": "0x" + w.device.hex(), "year": 2007, "month": 1, "factor_set_id": 1},
                 headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert r.status_code == 201, r.text
    r = api.post("/v1/regulator/records/1/verifier", json={"verifier": w.acct["verifier"]},
                 headers={"Authorization": f"Bearer {keys['regulator']}"})
    assert r.status_code == 200, r.text
    return w, store, with_node, no_node, keys


def browser_like(app, key: str | None = None) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    if key:
        r = c.post("/portal/login", data={"api_key": key})
        assert r.status_code == 303, r.text
    return c


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


# ------------------------------------------------------------------ chart
def test_nice_ceiling_is_the_next_1_2_5_step() -> None:
    assert [nice_ceiling(x) for x in (0, 0.3, 1, 1.2, 2.5, 7, 10, 11, 4200)] == [1, 0.5, 1, 2, 5, 10, 10, 20, 5000]


def test_the_chart_draws_one_bar_per_month_scaled_to_tco2_and_escapes_labels() -> None:
    svg = str(emissions_chart_svg([MonthBar("2007-01", 1728, "confirmed"), MonthBar("<b>", 3456, "submitted")]))
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0], rel=1e-3)
    assert 'data-kg="1728"' in svg and "<b>" not in svg and "&lt;b&gt;" in svg
    assert "no records yet" in str(emissions_chart_svg([]))


# ------------------------------------------------------------------ sessions
def test_pages_without_a_session_redirect_to_the_login(site) -> None:
    _, _, app, _, _ = site
    c = browser_like(app)
    for path in ("/portal/enterprise", "/portal/enterprise/submit", "/portal/verifier", "/portal/verifier/records/1"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/portal/login"), path


def test_login_refuses_an_unknown_or_malformed_key_and_a_role_without_pages(site) -> None:
    w, store, app, _, keys = site
    c = browser_like(app)
    assert c.post("/portal/login", data={"api_key": "clk_0000_nope"}).status_code == 401
    assert c.post("/portal/login", data={"api_key": "not a key"}).status_code == 401
    assert c.post("/portal/login", data={"api_key": "x" * 500}).status_code == 422
    exchange = issue_key(store, w.dep, org_id(USCC["exchange"]), "EXCHANGE_ROLE")    # the exchange has no portal pages
    r = c.post("/portal/login", data={"api_key": exchange})
    assert r.status_code == 403 and "use the API" in r.text
    assert c.get("/portal/enterprise").status_code == 303       # no session was kept


def test_the_session_cookie_is_signed_and_httponly(site) -> None:
    _, _, app, _, keys = site
    c = browser_like(app)
    r = c.post("/portal/login", data={"api_key": keys["enterprise"]})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cl_portal=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    forged = TestClient(app, follow_redirects=False, cookies={"cl_portal": cookie.split(";")[0].split("=", 1)[1][:-4] + "AAAA"})
    assert forged.get("/portal/enterprise").status_code == 303


def test_a_revoked_key_ends_the_session_at_the_next_click(site) -> None:
    _, store, app, _, keys = site
    c = browser_like(app, keys["enterprise"])
    assert c.get("/portal/enterprise").status_code == 200
    revoke_key(store, keys["enterprise"].split("_")[1])
    r = c.get("/portal/enterprise")
    assert r.status_code == 303 and "revoked" in r.headers["location"]


def test_a_wrong_role_gets_a_403_page(site) -> None:
    _, _, app, _, keys = site
    c = browser_like(app, keys["enterprise"])
    r = c.get("/portal/verifier")
    assert r.status_code == 403 and "VERIFIER_ROLE" in r.text
    v = browser_like(app, keys["verifier"])
    assert v.get("/portal/enterprise/submit").status_code == 403


def test_a_form_post_without_the_session_csrf_token_is_refused_and_logs_out(site) -> None:
    w, _, app, _, keys = site
    c = browser_like(app, keys["enterprise"])
    form = {"device": "0x" + w.device.hex(), "year": "2007", "month": "2", "factor_set": "auto"}
    r = c.post("/portal/enterprise/submit", data={**form, "csrf": "forged"})
    assert r.status_code == 303 and "CSRF" in r.headers["location"]
    assert c.get("/portal/enterprise").status_code == 303
    assert w.call(w.dep.emissions.functions.recordCount()) == 1                  # nothing recorded
    assert browser_like(app, keys["enterprise"]).post("/portal/logout", data={"csrf": ""}).status_code == 303


# ------------------------------------------------------------------ enterprise submissions
def uncovered_year(w: World) -> int:
    """A year no published factor set covers (other modules publish sets on the session's chain)."""
    n = int(w.call(w.dep.factors.functions.factorSetCount()))
    return next(y for y in range(2099, 1999, -1)
                if not any(w.call(w.dep.factors.functions.appliesTo(i, y)) for i in range(1, n + 1)))


def test_enterprise_submit_refuses_bad_input_with_the_reason_and_records_nothing(site) -> None:
    w, _, app, _, keys = site
    c = browser_like(app, keys["enterprise"])
    tok = csrf(c.get("/portal/enterprise/submit").text)
    dev = "0x" + w.device.hex()
    cases = [({"device": dev, "year": "2007", "month": "13"}, 422, "month 1"),
             ({"device": dev, "year": "x", "month": "2"}, 422, "whole numbers"),
             ({"device": "0x12", "year": "2007", "month": "2"}, 422, "choose a device"),
             ({"device": "0x" + "zz" * 32, "year": "2007", "month": "2"}, 422, "choose a device"),
             ({"device": dev, "year": str(uncovered_year(w)), "month": "2"}, 422, "no published factor set"),
             ({"device": dev, "year": "2007", "month": "6"}, 409, "no anchored batch"),
             ({"device": dev, "year": "2007", "month": "1"}, 409, "RecordExists"),
             ({"device": dev, "year": "2007", "month": "2", "factor_set": "99"}, 409, "FactorSetNotApplicable(99, 2007)")]
    for form, status, text in cases:
        r = c.post("/portal/enterprise/submit", data={"csrf": tok, "factor_set": "auto", **form})
        assert r.status_code == status and text in r.text, (form, r.status_code, re.findall(r"id=\"error\">[^<]*", r.text))
    r = c.post("/portal/enterprise/submit", data={"csrf": tok, "device": dev, "year": "2007", "month": "2", "factor_set": "auto"},
               files={"evidence": ("big.bin", b"x" * 1001)})
    assert r.status_code == 413 and "limit of 1000 bytes" in r.text
    assert w.call(w.dep.emissions.functions.recordCount()) == 1


def test_enterprise2_cannot_open_another_enterprises_record(site) -> None:
    _, _, app, _, keys = site
    c = browser_like(app, keys["enterprise2"])
    r = c.get("/portal/enterprise/records/1")
    assert r.status_code == 404 and "no record 1" in r.text
    assert c.get("/portal/enterprise/records/0").status_code == 422


def test_enterprise_submits_with_evidence_and_sees_the_record_and_its_history(site) -> None:
    w, _, app, _, keys = site
    c = browser_like(app, keys["enterprise"])
    tok = csrf(c.get("/portal/enterprise/submit").text)
    r = c.post("/portal/enterprise/submit", data={"csrf": tok, "device": "0x" + w.device.hex(), "year": "2007", "month": "2",
                                                  "factor_set": "1"}, files={"evidence": ("fuel.csv", b"date,t\n2007-02-01,3\n")})
    assert r.status_code == 303 and r.headers["location"] == "/portal/enterprise/records/2"
    page = c.get("/portal/enterprise/records/2").text
    assert 'id="status">submitted<' in page and "RecordSubmitted" in page
    anchored = w.call(w.dep.evidence.functions.evidenceAt(2, 0))        # sealed; its ciphertext hash anchored
    assert "0x" + anchored.ciphertextSha256.hex() in page
    assert "0x" + __import__("hashlib").sha256(b"date,t\n2007-02-01,3\n").hexdigest() not in page
    dash = c.get("/portal/enterprise").text
    assert dash.count('class="bar"') == 2 and records.record(w.dep, 2)["status"] == "submitted"


# ------------------------------------------------------------------ verifier
def test_verifier_sees_only_assigned_records(site) -> None:
    _, _, app, _, keys = site
    v2 = browser_like(app, keys["verifier2"])
    assert "No record is assigned to you" in v2.get("/portal/verifier").text
    assert v2.get("/portal/verifier/records/1").status_code == 404
    assert v2.post("/portal/verifier/records/1/verdict", data={"csrf": csrf(v2.get("/portal/verifier").text),
                                                               "verdict": "attest"}).status_code == 404


def test_without_readings_every_check_is_marked_failed_and_attest_is_refused(site) -> None:
    w, _, _, no_node, keys = site
    v = browser_like(no_node, keys["verifier"])
    page = v.get("/portal/verifier/records/1").text
    assert "Overall: <span class=\"fail mark\">failed</span>" in page and "no oracle node" in page
    batches = page[page.index('id="batches"'):page.index('id="checks"')]
    assert 'class="ok mark"' not in batches                        # nothing rebuilt from readings
    for name in ("device signatures", "Merkle roots", "energy per batch"):
        row = page[page.index(f'data-check="{name}"'):]
        assert row[:row.index("</tr>")].count('class="fail mark"') == 1, name
    r = v.post("/portal/verifier/records/1/verdict", data={"csrf": csrf(page), "verdict": "attest"})
    assert r.status_code == 409 and "has findings" in r.text
    assert records.record(w.dep, 1)["status"] == "submitted"
    r = v.post("/portal/verifier/records/1/verdict", data={"csrf": csrf(page), "verdict": "maybe"})
    assert r.status_code == 422
    r = v.post("/portal/verifier/records/1/verdict", data={"csrf": csrf(page), "verdict": "reject"})
    assert r.status_code == 303
    rec = records.record(w.dep, 1)
    assert rec["status"] == "rejected" and rec["findingsHash"] != "0x" + "00" * 32


def test_the_provenance_page_checks_the_evidence_this_api_serves(site) -> None:
    """The in-process source lists this API's evidence (as GET /v1/evidence does): the evidence
    check runs — passing while the listing equals EvidenceRegistry, failing when an item anchored
    on-chain is missing from it — and is never "skipped"."""
    w, store, app, _, keys = site
    v = browser_like(app, keys["verifier"])

    def evidence_row() -> str:
        page = v.get("/portal/verifier/records/1").text
        row = page[page.index('data-check="evidence"'):]
        return row[:row.index("</tr>")]

    row = evidence_row()
    assert 'class="ok mark"' in row and "skipped" not in row and "0 evidence items" in row
    r = TestClient(app).post("/v1/enterprise/records/1/evidence", data={"kind": "invoice"},
                             files={"file": ("invoice.pdf", b"%PDF-1.4 invoice 2007-01")},
                             headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert r.status_code == 201, r.text
    row = evidence_row()
    assert 'class="ok mark"' in row and "1 evidence items" in row and "1 served" in row, row
    with Session(store) as s, s.begin():                      # the API loses its listing; the chain keeps the hashes
        s.execute(delete(EvidenceFile))
    row = evidence_row()
    assert 'class="fail mark"' in row and "1 evidence items" in row and "0 served, hashes differ" in row, row


def test_a_verifier_without_a_custodial_key_is_sent_to_the_api(site, tmp_path: Path) -> None:
    w, store, _, _, keys = site
    app = create_app(w.dep, store, None, custodial=[])
    v = browser_like(app, keys["verifier"])
    page = v.get("/portal/verifier/records/1").text
    r = v.post("/portal/verifier/records/1/verdict", data={"csrf": csrf(page), "verdict": "reject"})
    assert r.status_code == 409 and "raw_transaction" in r.text
    assert records.record(w.dep, 1)["status"] == "submitted"
