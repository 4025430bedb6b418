"""Schemathesis against the live app (uvicorn in a thread, on the ``chain`` fixture with data):
once per on-chain role with that role's API key, checks ``not_a_server_error`` and
``response_schema_conformance``, at most 25 examples per operation. Every operation of the
OpenAPI schema is exercised; the run's duration is printed (the CI budget is 5 minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import issue_key
from ledger.db import make_engine, sqlite_url
from ledger.identifiers import org_id
from tests.conftest import ROLES, ROOT, USCC, World
from tests.live_server import anchor_month, live_server, serving_node

MAX_EXAMPLES = 25
BUDGET_S = 300
ARTIFACTS = ROOT / "test-artifacts"
#: one participant per on-chain role (tests.conftest.ROLES)
ROLE_HOLDERS = {"REGULATOR_ROLE": "regulator", "ENTERPRISE_ROLE": "enterprise", "VERIFIER_ROLE": "verifier",
                "ORACLE_ROLE": "oracle-1", "EXCHANGE_ROLE": "exchange", "REGISTRY_ROLE": "registry",
                "PROJECT_OWNER_ROLE": "owner", "SETTLEMENT_BANK_ROLE": "bank"}


@pytest.fixture()
def live(chain: World, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The app with an oracle node, three anchored months, two records (one assigned to the
    verifier), every participant custodial, and an API key per role."""
    w = chain
    node = serving_node(w, tmp_path)
    for m in (1, 2, 3):
        anchor_month(w, node, m, [2_000_000 + 500 * i for i in range(30)])
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(w.dep, store, node, custodial=list(w.acct.values()))
    keys = {role: issue_key(store, w.dep, org_id(USCC[who]), role) for role, who in ROLE_HOLDERS.items()}
    assert set(keys) == set(ROLES.values())
    with live_server(app) as url:
        ent = {"Authorization": f"Bearer {keys['ENTERPRISE_ROLE']}"}
        for m in (1, 2):
            r = httpx.post(f"{url}/v1/enterprise/records", headers=ent, timeout=60,
                           json={"device": "0x" + w.device.hex(), "year": 2007, "month": m, "factor_set_id": w.factor_set})
            assert r.status_code == 201, r.text
        r = httpx.post(f"{url}/v1/regulator/records/1/verifier", json={"verifier": w.acct["verifier"]}, timeout=60,
                       headers={"Authorization": f"Bearer {keys['REGULATOR_ROLE']}"})
        assert r.status_code == 200, r.text
        yield url, keys


def run_schemathesis(url: str, key: str, report: Path, seed: int = 6) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` of the live schema with ``key``; JUnit report at ``report``."""
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
           "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", str(MAX_EXAMPLES),
           "--phases", "examples,coverage,fuzzing", "--seed", str(seed), "--workers", "1", "--no-shrink",
           "--header", f"Authorization: Bearer {key}", "--request-timeout", "60",
           "--report", "junit", "--report-junit-path", str(report), "--output-truncate", "false",
           "--suppress-health-check", "all"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=BUDGET_S)


def test_every_operation_passes_schemathesis_for_every_role(live, tmp_path: Path) -> None:
    url, keys = live
    ops = sum(len(v) for v in httpx.get(f"{url}/openapi.json").json()["paths"].values())
    t0 = time.monotonic()
    failed: dict[str, str] = {}
    only = [r for r in os.environ.get("CARBONLEDGER_ST_ROLES", "").split(",") if r]   # debugging aid: a subset of roles
    ARTIFACTS.mkdir(exist_ok=True)
    for role, key in keys.items():
        if only and role not in only:
            continue
        t = time.monotonic()
        res = run_schemathesis(url, key, tmp_path / f"{role}.xml")
        (ARTIFACTS / f"schemathesis-{role}.txt").write_text(res.stdout + res.stderr)
        cases = ET.parse(tmp_path / f"{role}.xml").getroot().iter("testcase")
        n = sum(1 for _ in cases)
        print(f"schemathesis {role}: {n} operations in {time.monotonic() - t:.1f} s, exit {res.returncode}")
        assert n == ops, f"{role}: {n} of {ops} operations ran"
        if res.returncode != 0:
            failed[role] = res.stdout[-6000:]
    elapsed = time.monotonic() - t0
    print(f"schemathesis: {len(keys)} roles x {ops} operations in {elapsed:.1f} s")
    assert not failed, "\n\n".join(f"== {r}\n{out}" for r, out in failed.items())
    assert only or elapsed < BUDGET_S
