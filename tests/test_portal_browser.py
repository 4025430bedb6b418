"""The portal end to end in headless Chromium (Debian ``chromium`` driven by PyPI ``playwright``;
no browser download): the enterprise logs in, submits a month with an evidence file and sees it
submitted; the regulator assigns the verifier; the verifier logs in, opens the queue and the
record's provenance (every check marked verified), attests; the enterprise sees the new status.
The regulator's pages: overview (completeness, compliance; Chinese labels rendered with Debian's
``fonts-noto-cjk``), records queue (assign, confirm), market chart; other roles refused. The alerts
page: periods in the regulator's +08:00, an alert stored while the page is open appears live
(EventSource), its hash anchored from the page. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

from api.app import create_app
from api.auth import issue_key
from api.portal.alerts_view import utc_seconds
from api.portal.timefmt import local_time
from ledger.accounting.emissions import emissions_kg
from ledger.alerts.checks import check_gap, check_step
from ledger.alerts.rules import make_rule
from ledger.alerts.store import get_alert, save_alerts
from ledger.contracts import governance
from ledger.contracts.governance import Operation
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import derive_encryption_key
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.meter_data.energy import energy_wh
from ledger.records import queries as records
from ledger.store.db import make_engine, sqlite_url
from oracles.alerts_job import meter_stream
from oracles.uci import load_uci
from tests.conftest import GRID_EF_SCALED, ROOT, USCC, World, shared_data, unavailable
from tests.governance_world import govern_world
from tests.live_server import anchor_month, live_server, serving_node
from tests.test_api_market import YEAR, allocate_cea, fund, h, trade

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def _apt_install(package: str, why: str) -> None:
    """``apt-get install package`` (as root), else skip (fail under ``CI=true``: tests.conftest.unavailable)."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        unavailable(f"{why} and apt-get (as root) is unavailable to install Debian's {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            unavailable(f"`{' '.join(cmd)}` failed: {r.stderr[-500:]}")


def _cjk_fonts() -> str:
    r = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=60)
    return r.stdout if r.returncode == 0 else ""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium and a Chinese font (Debian ``fonts-noto-cjk``, so 核定 / 履约 render);
    installed with apt-get when missing (CI on a fresh machine), else skip (fail under
    ``CI=true``: tests.conftest.unavailable)."""
    if not os.path.exists(CHROMIUM):
        _apt_install("chromium", f"{CHROMIUM} is absent")
    if shutil.which("fc-list") is None or "Noto" not in _cjk_fonts():
        _apt_install("fonts-noto-cjk", "no Chinese font is installed (fc-list :lang=zh)")
        if "Noto" not in _cjk_fonts():
            unavailable("fonts-noto-cjk was installed but fontconfig lists no Noto CJK font for :lang=zh")
    return CHROMIUM


@pytest.fixture()
def browser(chromium: str) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def portal(chain: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, str, dict[str, str], Path]]:
    """A live app with an oracle node serving three anchored months (Jan confirmed, Feb
    submitted via the API; Mar left for the browser) and API keys per role."""
    w = chain
    monkeypatch.setenv("CARBONLEDGER_EVIDENCE_DIR", str(tmp_path / "evidence"))
    for n in ("enterprise", "regulator", "verifier"):     # readers of evidence register their X25519 keys
        w.tx(w.dep.participants.functions.setEncryptionKey(ev.public_key(derive_encryption_key(w.keys[n]))), n)
    node = serving_node(w, tmp_path)
    for m, watts in ((1, 3_000_000), (2, 4_200_000), (3, 3_600_000)):
        anchor_month(w, node, m, [watts + 1_000 * i for i in range(60)])
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(w.dep, store, node, custodial=[w.acct["regulator"], w.acct["enterprise"], w.acct["verifier"]])
    keys = {n: issue_key(store, w.dep, org_id(USCC[n]), role) for n, role in
            [("enterprise", "ENTERPRISE_ROLE"), ("regulator", "REGULATOR_ROLE"), ("verifier", "VERIFIER_ROLE")]}
    with live_server(app) as url:
        api = {n: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {k}"}, timeout=60) for n, k in keys.items()}
        dev = "0x" + w.device.hex()
        for m in (1, 2):
            r = api["enterprise"].post("/v1/enterprise/records", json={"device": dev, "year": 2007, "month": m, "factor_set_id": w.factor_set})
            assert r.status_code == 201, r.text
        jan = 1
        assert api["regulator"].post(f"/v1/regulator/records/{jan}/verifier", json={"verifier": w.acct["verifier"]}).status_code == 200
        r = api["verifier"].post(f"/v1/verifier/records/{jan}/verdict",
                                 json={"verdict": "attest", "report_hash": "0x" + "11" * 32, "findings_hash": "0x" + "00" * 32})
        assert r.status_code == 200, r.text
        assert api["regulator"].post(f"/v1/regulator/records/{jan}/confirm").json()["status"] == "confirmed"
        yield w, url, keys, tmp_path
        for c in api.values():
            c.close()


def _login(page, url: str, key: str) -> None:
    page.goto(f"{url}/portal/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")


@pytest.mark.timeout(1800)   # may apt-get install Debian's chromium first (README, "Tests and CI")
def test_enterprise_submits_a_month_with_evidence_and_sees_the_verifiers_attestation(portal, browser) -> None:
    w, url, keys, tmp = portal
    ARTIFACTS.mkdir(exist_ok=True)
    evidence = tmp / "invoice-2007-03.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% State Grid electricity invoice, March 2007 (test file)\n" * 20)
    ent = browser.new_context().new_page()

    _login(ent, url, keys["enterprise"])
    assert ent.url.endswith("/portal/enterprise")
    ent.click("text=Submit a month")
    ent.select_option("#device", "0x" + w.device.hex())
    ent.fill("#year", "2007")
    ent.fill("#month", "3")
    ent.set_input_files("#evidence", str(evidence))
    ent.click("#submit")
    assert "/portal/enterprise/records/3" in ent.url, ent.content()[:2000]
    assert ent.inner_text("#status") == "submitted"
    anchored = w.call(w.dep.evidence.functions.evidenceAt(3, 0))
    assert ent.inner_text("#evidence-sha256") == "0x" + anchored.ciphertextSha256.hex()
    assert [t.strip() for t in ent.locator("#history td:first-child").all_inner_texts()] == ["ActivityRecorded", "RecordSubmitted"]
    [stored] = list((tmp / "evidence").glob("*.clev"))               # sealed, never the plain file
    envelope = ev.Envelope.from_bytes(stored.read_bytes())
    assert hashlib.sha256(envelope.ciphertext).digest() == anchored.ciphertextSha256
    assert evidence.read_bytes() not in stored.read_bytes()
    assert ev.open_envelope(envelope, w.acct["enterprise"], derive_encryption_key(w.keys["enterprise"])) == evidence.read_bytes()

    ent.goto(f"{url}/portal/enterprise")
    bars = ent.locator("#chart rect.bar")
    assert bars.count() == 3
    assert [bars.nth(i).get_attribute("data-status") for i in range(3)] == ["confirmed", "submitted", "submitted"]
    march = sum((3_600_000 + 1_000 * i) * 60 for i in range(60))          # W·s of the anchored day
    assert int(bars.nth(2).get_attribute("data-kg")) == records.record(w.dep, 3)["emissionsKg"] == emissions_kg(energy_wh(march), GRID_EF_SCALED)
    ent.screenshot(path=str(ARTIFACTS / "portal-enterprise-dashboard.png"), full_page=True)

    # the regulator assigns the verifier (over the API)
    r = httpx.post(f"{url}/v1/regulator/records/3/verifier", json={"verifier": w.acct["verifier"]},
                   headers={"Authorization": f"Bearer {keys['regulator']}"}, timeout=60)
    assert r.status_code == 200 and r.json()["verifier"].lower() == w.acct["verifier"].lower(), r.text

    ver = browser.new_context().new_page()
    _login(ver, url, keys["verifier"])
    assert ver.url.endswith("/portal/verifier")
    assert ver.locator("#queue tr[data-record]").count() == 2
    ver.click("#queue tr[data-record='3'] a")
    assert ver.url.endswith("/portal/verifier/records/3")
    assert ver.inner_text("#overall").startswith("Overall: verified")
    marks = ver.locator("#batches .mark").all_inner_texts() + ver.locator("#checks .mark").all_inner_texts()
    assert marks and set(marks) == {"verified"}, marks
    assert "3 accepted" in ver.inner_text('#checks tr[data-check="proofs on-chain"]')
    assert ver.locator("#findings").count() == 0
    ver.screenshot(path=str(ARTIFACTS / "portal-verifier-provenance.png"), full_page=True)
    ver.click("#attest")
    assert ver.url.endswith("/portal/verifier")
    assert "record 3 attested" in ver.inner_text("#flash")

    ent.goto(f"{url}/portal/enterprise/records/3")
    assert ent.inner_text("#status") == "verified"
    assert "RecordAttested" in ent.inner_text("#history")
    ent.goto(f"{url}/portal/enterprise")
    assert ent.locator("#records tr[data-record='3'] .status").inner_text() == "verified"
    ent.screenshot(path=str(ARTIFACTS / "portal-enterprise-after-attestation.png"), full_page=True)
    assert records.record(w.dep, 3)["verificationReportHash"] != "0x" + "00" * 32


# ------------------------------------------------------------------ the regulator's pages
@pytest.fixture()
def regulator_portal(chain: World, artifacts, tmp_path: Path) -> Iterator[tuple[World, str, dict[str, str]]]:
    """A live app on the world under a 2-of-3 council: the meter enrolled as the enterprise's 2007
    source; January confirmed, February and March submitted (no verifier); two CEA trades settled;
    a CCER batch issued and partly retired; one governance operation approved by regulator-b."""
    w = govern_world(chain, artifacts)
    node = serving_node(w, tmp_path)
    for m, watts in ((1, 3_000_000), (2, 4_200_000), (3, 3_600_000)):
        anchor_month(w, node, m, [watts + 1_000 * i for i in range(60)])
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    names = ("regulator", "enterprise", "enterprise2", "verifier", "exchange", "registry", "owner")
    app = create_app(w.dep, store, node, custodial=[w.acct[n] for n in names])
    roles = {"regulator": "REGULATOR_ROLE", "enterprise": "ENTERPRISE_ROLE", "enterprise2": "ENTERPRISE_ROLE",
             "verifier": "VERIFIER_ROLE", "exchange": "EXCHANGE_ROLE", "registry": "REGISTRY_ROLE", "owner": "PROJECT_OWNER_ROLE"}
    keys = {n: issue_key(store, w.dep, org_id(USCC[n]), r) for n, r in roles.items()}
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        ent = "0x" + org_id(USCC["enterprise"]).hex()
        r = http.post("/v1/regulator/completeness", json={"enterprise": ent, "year": 2007,
                                                          "sources": [{"activity_type": 1, "subject": "0x" + w.device.hex()}]},
                      headers=h(keys, "regulator"))
        assert r.status_code == 200, r.text
        for m in (1, 2, 3):
            r = http.post("/v1/enterprise/records", json={"device": "0x" + w.device.hex(), "year": 2007, "month": m,
                                                          "factor_set_id": w.factor_set}, headers=h(keys, "enterprise"))
            assert r.status_code == 201, r.text
        assert http.post("/v1/regulator/records/1/verifier", json={"verifier": w.acct["verifier"]}, headers=h(keys, "regulator")).status_code == 200
        r = http.post("/v1/verifier/records/1/verdict", json={"verdict": "attest", "report_hash": "0x" + "11" * 32,
                                                              "findings_hash": "0x" + "00" * 32}, headers=h(keys, "verifier"))
        assert r.status_code == 200, r.text
        assert http.post("/v1/regulator/records/1/confirm", headers=h(keys, "regulator")).json()["status"] == "confirmed"
        allocate_cea(w, http, keys)        # type: ignore[arg-type]   (httpx.Client answers like TestClient)
        fund(w, "enterprise2", 1_000_000)
        body = {"atomic": True, "reference_close_fen": {f"CEA-{YEAR}": 5000},
                "trades": [trade(w, 1, w.acct["enterprise"], w.acct["enterprise2"], 100, 5200),
                           trade(w, 2, w.acct["enterprise"], w.acct["enterprise2"], 50, 5000)]}
        r = http.post("/v1/exchange/trade-batches", json=body, headers=h(keys, "exchange", "b1"))
        assert r.status_code == 200 and {t["status"] for t in r.json()["trades"]} == {"settled"}, r.text
        r = http.post("/v1/regulator/compliance-periods", json={"year": YEAR}, headers=h(keys, "regulator", "op"))
        assert r.status_code == 201, r.text
        r = http.post("/v1/registry/projects", json={"project": 7, "owner": w.acct["owner"], "methodology": "CCER-14-001-V01",
                                                     "region": "CN-GD", "registered_at": 1_700_000_000, "crediting_start": 1_600_732_800,
                                                     "name": "Offshore wind (test)"}, headers=h(keys, "registry", "p7"))
        assert r.status_code == 201, r.text
        r = http.post("/v1/registry/issuances", json={"project": 7, "vintage": 2023, "amount": 500, "serials": "T-7-2023-1 to 500"},
                      headers=h(keys, "registry", "i1"))
        assert r.status_code == 201, r.text
        r = http.post("/v1/enterprise/retirements", json={"asset": "CCER-7-2023", "batch_id": r.json()["batch_id"], "amount": 120,
                                                          "beneficiary": "Owner", "purpose": "voluntary"}, headers=h(keys, "owner", "r7"))
        assert r.status_code == 201, r.text
        governance.approve(w.dep, Operation.of([w.dep.assets.functions.pause()], keccak256(b"browser pause"), "pause"), w.acct["regulator-b"])
        yield w, url, keys


def _renders_cjk(page) -> bool:
    """Whether the page's font draws 核定 with real glyphs: its pixels on a canvas differ from two
    unassigned code points (drawn as the missing-glyph box)."""
    return page.evaluate("""() => {
        const draw = (t) => { const c = document.createElement('canvas'); c.width = 80; c.height = 30;
            const x = c.getContext('2d'); x.font = '20px ' + getComputedStyle(document.body).fontFamily; x.fillText(t, 2, 22);
            return Array.from(x.getImageData(0, 0, 80, 30).data).join(','); };
        return draw('核定') !== draw('\\u0378\\u0379'); }""")


@pytest.mark.timeout(1800)   # may apt-get install Debian's chromium and fonts-noto-cjk first
def test_the_regulator_reviews_the_overview_works_the_queue_and_reads_the_market(regulator_portal, browser) -> None:
    w, url, keys = regulator_portal
    ARTIFACTS.mkdir(exist_ok=True)
    for who in ("enterprise", "verifier"):            # other roles are refused
        other = browser.new_context().new_page()
        _login(other, url, keys[who])
        resp = other.goto(f"{url}/portal/regulator")
        assert resp is not None and resp.status == 403 and "this page needs REGULATOR_ROLE" in other.inner_text("#error")
    reg = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(reg, url, keys["regulator"])
    assert reg.url.endswith("/portal/regulator")
    assert reg.inner_text("h1").startswith("Regulator overview 监管总览 — 2007")
    row = reg.locator(f"#enterprise-table tr[data-enterprise='0x{org_id(USCC['enterprise']).hex()}']")
    states = row.locator(".cell[data-state]").evaluate_all("els => els.map(e => e.dataset.state)")
    assert states == ["confirmed", "in_review", "in_review"] + ["missing"] * 9
    assert "not closable" in row.inner_text()
    assert reg.locator("#count-unassigned").inner_text() == "2" and reg.locator("#count-governance").inner_text() == "1"
    assert _renders_cjk(reg), "Chinese labels render as missing-glyph boxes: is fonts-noto-cjk installed?"
    reg.screenshot(path=str(ARTIFACTS / "portal-regulator-overview.png"), full_page=True)
    reg.select_option("#year", str(YEAR))
    reg.click("text=Show")
    assert reg.locator("#deadline").inner_text().endswith("+08:00")
    assert reg.locator(f"#enterprise-table tr[data-enterprise='0x{org_id(USCC['enterprise']).hex()}'] .compliance-status").inner_text() == "open"
    reg.screenshot(path=str(ARTIFACTS / "portal-regulator-overview-compliance.png"), full_page=True)

    reg.click("text=Records queue 审核队列")
    assert reg.locator("#submitted tr[data-record]").count() == 2
    reg.select_option("#submitted tr[data-record='2'] select", w.acct["verifier"])
    reg.click("#submitted tr[data-record='2'] button.assign")
    assert "record 2: verifier" in reg.inner_text("#flash")
    assert records.record(w.dep, 2)["verifier"].lower() == w.acct["verifier"].lower()
    r = httpx.post(f"{url}/v1/verifier/records/2/verdict", json={"verdict": "attest", "report_hash": "0x" + "22" * 32,
                                                                 "findings_hash": "0x" + "00" * 32},
                   headers={"Authorization": f"Bearer {keys['verifier']}"}, timeout=60)
    assert r.status_code == 200, r.text
    reg.reload()
    assert reg.locator("#verified tr[data-record='2']").count() == 1
    reg.screenshot(path=str(ARTIFACTS / "portal-regulator-records.png"), full_page=True)
    reg.click("#verified tr[data-record='2'] button.confirm")
    assert "record 2 confirmed" in reg.inner_text("#flash")
    assert records.record(w.dep, 2)["status"] == "confirmed"
    reg.goto(f"{url}/portal/regulator?year=2007")
    states = reg.locator(f"#enterprise-table tr[data-enterprise='0x{org_id(USCC['enterprise']).hex()}'] .cell[data-state]").evaluate_all(
        "els => els.map(e => e.dataset.state)")
    assert states[:3] == ["confirmed", "confirmed", "in_review"]

    reg.click("text=Market 市场")
    bars = reg.locator("svg.market rect.vol")
    assert bars.count() == 1 and bars.first.get_attribute("data-volume") == "150"
    assert reg.locator("svg.market circle.price").first.get_attribute("data-price-fen") == "5133"
    assert reg.locator("svg.market").first.bounding_box()["width"] > 600
    reg.screenshot(path=str(ARTIFACTS / "portal-regulator-market.png"), full_page=True)
    reg.click("text=Offsets 减排量")
    assert reg.inner_text("#issued-t") == "500" and reg.inner_text("#retired-t") == "120"
    reg.click("text=Governance 治理")
    assert reg.locator("#operations tr[data-operation] .approvals").inner_text() == "1 / 2"



# ------------------------------------------------------------------ the regulator's alerts page
@pytest.mark.timeout(1800)   # may apt-get install Debian's chromium first
def test_the_regulator_sees_alerts_arrive_live_and_anchors_one(chain: World, tmp_path: Path, browser) -> None:
    """Alerts of the stream rules over the real UCI subset (../shared/data/meter/
    uci_household_power_consumption_subset.txt): gaps stored before the page opens, a step stored
    while it is open (it must appear without a reload), then one anchored from the page."""
    w = chain
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(w.dep, store, None, custodial=[w.acct["regulator"]])
    key = issue_key(store, w.dep, org_id(USCC["regulator"]), "REGULATOR_ROLE")
    ent = "enterprise:" + USCC["enterprise"]
    stream = meter_stream(load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")), ent, "0x" + w.device.hex())
    gaps = check_gap(make_rule("gap2", "stream_gap", ent, {"min_minutes": 2}), stream).alerts
    step = check_step(make_rule("step4k", "stream_step", ent, {"min_step_w": 4_000}, "info"), stream).alerts[0]
    ids = save_alerts(store, gaps, "test")
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(app) as url:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _login(page, url, key)
        page.click("text=Alerts 预警")
        assert page.locator("#alert-list tr[data-alert]").count() == len(ids)
        assert page.inner_text("#live-status").startswith("Live")
        (new,) = save_alerts(store, [step], "test")                       # stored while the page is open
        row = page.locator(f"#alert-list tr[data-alert='{new}']")
        row.wait_for(timeout=15_000)
        assert page.locator("#alert-list tr[data-alert]").first.get_attribute("data-alert") == str(new)   # prepended
        start = local_time(utc_seconds(step.period_start), 8 * 3600)     # formatted by the page's script
        assert start.endswith("+08:00") and start in row.inner_text() and "step4k" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "portal-regulator-alerts.png"), full_page=True)
        page.reload()
        page.click(f"#alert-list tr[data-alert='{ids[0]}'] button")
        assert f"alert {ids[0]} anchored" in page.inner_text("#flash")
        assert get_alert(store, ids[0])["anchor_tx"] is not None
        assert "anchored" in page.inner_text(f"#alert-list tr[data-alert='{ids[0]}']")
