"""The portal end to end in headless Chromium (Debian ``chromium`` driven by PyPI ``playwright``;
no browser download): the enterprise logs in, submits a month with an evidence file and sees it
submitted; the regulator assigns the verifier; the verifier logs in, opens the queue and the
record's provenance (every check marked verified), attests; the enterprise sees the new status.
Screenshots go to ``test-artifacts/``."""

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
from ledger.accounting.emissions import emissions_kg
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import derive_encryption_key
from ledger.identifiers import org_id
from ledger.meter_data.energy import energy_wh
from ledger.records import queries as records
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import GRID_EF_SCALED, ROOT, USCC, World, unavailable
from tests.live_server import anchor_month, live_server, serving_node

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing (CI on a fresh machine), else skip
    (fail under ``CI=true``: tests.conftest.unavailable)."""
    if not os.path.exists(CHROMIUM):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            unavailable(f"{CHROMIUM} is absent and apt-get (as root) is unavailable to install Debian's chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                unavailable(f"`{' '.join(cmd)}` failed: {r.stderr[-500:]}")
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
