"""Carbon assets and the market over the API: regulator allocation and freezing, registry issuance
and retirement certificates, exchange settlement (rules, DvP, duplicates, skip mode, stream),
holders' balances and retirements, audit history and the compliance table — on a real Anvil."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import to_checksum_address
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from ledger.accounting.assets import cea_id
from ledger.accounting.settlement import BUY, SELL, Order, settlement_domain, trade_id
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import USCC, World

YEAR = 2019
ROLES_USED = [("regulator", "REGULATOR_ROLE"), ("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"),
              ("exchange", "EXCHANGE_ROLE"), ("registry", "REGISTRY_ROLE"), ("owner", "PROJECT_OWNER_ROLE"),
              ("verifier", "VERIFIER_ROLE")]


@pytest.fixture()
def env(chain: World, tmp_path: Path):
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    custodial = [chain.acct[n] for n, _ in ROLES_USED]
    app = create_app(chain.dep, store, None, custodial=custodial)
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), role) for n, role in ROLES_USED}
    return chain, TestClient(app), keys


def h(keys: dict[str, str], who: str, idem: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {keys[who]}"}
    if idem:
        out["Idempotency-Key"] = idem
    return out


def problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.json()["type"] == f"/v1/problems/{slug}", r.json()
    return r.json()


def allocate_cea(w: World, http: TestClient, keys: dict[str, str], basis_mwh: int = 1000) -> int:
    """Benchmark set 2019–2020, enrol the enterprise as a >300 MW coal unit, pre-allocate 70 % of
    ``basis_mwh`` × 0.877 t/MWh of CEA-2019 to it; returns the tonnes issued."""
    r = http.post("/v1/regulator/benchmark-sets", json={"preset": "2019-2020"}, headers=h(keys, "regulator"))
    assert r.status_code == 201, r.text
    set_id = r.json()["set_id"]
    ent = "0x" + org_id(USCC["enterprise"]).hex()
    r = http.post("/v1/regulator/enrolments", json={"enterprise": ent, "category": "COAL_GT300",
                                                    "holding_account": w.acct["enterprise"]}, headers=h(keys, "regulator"))
    assert r.status_code == 201, r.text
    r = http.post("/v1/regulator/pre-allocations", json={"year": YEAR, "set_id": set_id, "enterprise": ent, "basis_wh": basis_mwh * 10**6,
                                                         "basis_heat_mj": 0, "evidence_hash": "0x" + keccak256(b"2018 output").hex()},
                  headers=h(keys, "regulator"))
    assert r.status_code == 201, r.text
    return int(w.call(w.dep.assets.functions.balanceOf(w.acct["enterprise"], cea_id(YEAR))))


def fund(w: World, who: str, fen: int) -> None:
    w.tx(w.dep.cash.functions.deposit(w.acct[who], fen, keccak256(f"deposit {who} {fen}".encode())), "bank")


def trade(w: World, tid: int, seller: str, buyer: str, qty: int, price: int, **kw) -> dict:
    """A fill of a buy and a sell order of ``qty`` at limit ``price`` (nonce ``tid``), each signed by
    its account's key: the members' consent, as the exchange hands it to the API."""
    domain = settlement_domain(w.client.chain_id, w.dep.c["Settlement"].address)
    key = {a.lower(): w.keys[n] for n, a in w.acct.items()}

    def order(account: str, side: int) -> dict:
        o = Order(to_checksum_address(account), cea_id(YEAR), side, qty, price, 2**40, tid)
        sig = o.sign(domain, key[account.lower()]).signature
        return {"account": account, "quantity": qty, "limit_price_fen": price, "expiry": 2**40, "nonce": tid,
                "signature": "0x" + sig.hex()}

    return {"buy": order(buyer, BUY), "sell": order(seller, SELL), "asset": f"CEA-{YEAR}", "quantity": qty,
            "price_fen": price, **kw}


def trade_key(w: World, t: dict) -> str:
    """The derived trade id of API trade ``t`` (0x + 64 hex)."""
    domain = settlement_domain(w.client.chain_id, w.dep.c["Settlement"].address)
    b, s = t["buy"], t["sell"]
    bo = Order(to_checksum_address(b["account"]), cea_id(YEAR), BUY, b["quantity"], b["limit_price_fen"], b["expiry"], b["nonce"])
    so = Order(to_checksum_address(s["account"]), cea_id(YEAR), SELL, s["quantity"], s["limit_price_fen"], s["expiry"], s["nonce"])
    return "0x" + trade_id(bo.digest(domain), so.digest(domain), 0, t["quantity"], t["price_fen"]).hex()


def test_allocation_settlement_retirement_and_audit_through_the_api(env) -> None:
    w, http, keys = env
    issued = allocate_cea(w, http, keys)
    assert issued == 614                       # ⌊0.7 × 1000 MWh × 0.877 t/MWh + ½⌋ = 613.9 → 614
    fund(w, "enterprise2", 1_000_000)
    seller, buyer = w.acct["enterprise"], w.acct["enterprise2"]
    body = {"atomic": False, "reference_close_fen": {f"CEA-{YEAR}": 5000},
            "trades": [trade(w, 1, seller, buyer, 100, 5200), trade(w, 2, seller, buyer, 10, 5600)]}   # 2nd: above +10 %
    r = http.post("/v1/exchange/trade-batches", json=body, headers=h(keys, "exchange", "b1"))
    assert r.status_code == 200, r.text
    got = r.json()["trades"]
    assert [t["trade_id"] for t in got] == [trade_key(w, t) for t in body["trades"]]   # ids derived from the signed orders
    assert got[0]["status"] == "settled" and got[1]["status"] == "refused"
    assert "price_band" in [v["code"] for v in got[1]["violations"]]
    assert int(w.call(w.dep.cash.functions.balanceOf(seller))) == 100 * 5200
    assert int(w.call(w.dep.assets.functions.balanceOf(buyer, cea_id(YEAR)))) == 100
    # the same Idempotency-Key returns the stored answer; a new key resubmitting trade 1 is a duplicate
    assert http.post("/v1/exchange/trade-batches", json=body, headers=h(keys, "exchange", "b1")).json() == r.json()
    again = http.post("/v1/exchange/trade-batches", json={**body, "trades": body["trades"][:1]}, headers=h(keys, "exchange", "b2"))
    assert again.json()["trades"][0]["status"] == "duplicate"
    assert int(w.call(w.dep.assets.functions.balanceOf(buyer, cea_id(YEAR)))) == 100       # nothing moved twice
    st = http.get(f"/v1/exchange/trades/{trade_key(w, body['trades'][0])}", headers=h(keys, "exchange")).json()
    assert st["status"] == "settled" and st["settled_on_chain"] is True and st["value_fen"] == 520_000
    # same-day resale by the buyer is refused by the rule set
    resale = http.post("/v1/exchange/trade-batches", json={"atomic": True, "trades": [trade(w, 3, buyer, seller, 10, 5200)]},
                       headers=h(keys, "exchange", "b3"))
    p = problem(resale, 422, "exchange-rule-violation")
    assert "same_day_resale" in [v["code"] for v in p["trades"][0]["violations"]]
    # positions, stream, freeze → skipped
    pos = http.get(f"/v1/exchange/positions?account={buyer}", headers=h(keys, "exchange")).json()
    assert pos["positions"] == [{"asset": f"CEA-{YEAR}", "asset_id": str(cea_id(YEAR)), "quantity_t": 100}]
    assert pos["cash_fen"] == 1_000_000 - 520_000
    sse = http.get("/v1/exchange/settlements/stream?once=true", headers=h(keys, "exchange"))
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert sse.text.count("event: TradeSettled") == 1
    r = http.post("/v1/regulator/freezes", json={"account": seller, "frozen": True, "reason": "test enforcement"}, headers=h(keys, "regulator"))
    assert r.status_code == 200, r.text
    r = http.post("/v1/exchange/trade-batches", json={"atomic": False, "trades": [trade(w, 4, seller, buyer, 5, 5200)]},
                  headers=h(keys, "exchange", "b4"))
    assert r.json()["trades"][0]["status"] == "skipped" and r.json()["trades"][0]["reason"] == "seller frozen"
    http.post("/v1/regulator/freezes", json={"account": seller, "frozen": False, "reason": "lifted"}, headers=h(keys, "regulator"))
    # holders: balances and a CEA retirement
    bal = http.get("/v1/enterprise/balances", headers=h(keys, "enterprise")).json()
    assert bal["positions"][0]["quantity_t"] == issued - 100
    r = http.post("/v1/enterprise/retirements", json={"asset": f"CEA-{YEAR}", "amount": 4, "beneficiary": "Example Co.",
                                                      "purpose": "carbon neutrality"}, headers=h(keys, "enterprise", "r1"))
    assert r.status_code == 201, r.text
    supply = w.dep.assets.supplyOf(cea_id(YEAR))
    assert supply.issued == issued and supply.retired == 4
    # audit: the asset's history names issuance, the settlement and the retirement
    hist = http.get(f"/v1/audit/assets/CEA-{YEAR}/history?limit=1000", headers=h(keys, "regulator")).json()["items"]
    names = [e["event"] for e in hist]
    assert {"Issued", "TradeSettled", "Retired"} <= set(names)
    mine = http.get(f"/v1/audit/accounts/{buyer}/history", headers=h(keys, "enterprise2"))
    assert mine.status_code == 200 and any(e["event"] == "TradeSettled" for e in mine.json()["items"])
    problem(http.get(f"/v1/audit/accounts/{seller}/history", headers=h(keys, "enterprise2")), 404, "not-found")
    problem(http.get(f"/v1/audit/compliance/{YEAR}", headers=h(keys, "regulator")), 404, "not-found")
    r = http.post("/v1/regulator/compliance-periods", json={"year": YEAR}, headers=h(keys, "regulator", "op"))
    assert r.status_code == 201, r.text
    assert r.json()["params"]["ccerCapBps"] == 500 and "Art. 29" in r.json()["citations"]["ccerCap"]
    table = http.get(f"/v1/audit/compliance/{YEAR}", headers=h(keys, "regulator"))
    assert table.status_code == 200, table.text
    table = table.json()["items"]
    assert {r["enterprise"] for r in table} == {"0x" + org_id(USCC[n]).hex() for n in ("enterprise", "enterprise2")}
    assert {r["status"] for r in table} == {"open"}


def test_ccer_issuance_with_serials_and_a_partial_retirement_certificate(env) -> None:
    w, http, keys = env
    r = http.post("/v1/registry/projects", json={"project": 7, "owner": w.acct["owner"], "methodology": "CCER-14-001-V01",
                                                 "region": "CN-GD", "registered_at": 1_700_000_000, "crediting_start": 1_600_732_800,
                                                 "name": "Offshore wind (test)"}, headers=h(keys, "registry", "p7"))
    assert r.status_code == 201, r.text
    r = http.post("/v1/registry/issuances", json={"project": 7, "vintage": 2023, "amount": 500, "serials": "T-7-2023-1 to 500"},
                  headers=h(keys, "registry", "i1"))
    assert r.status_code == 201, r.text
    batch = r.json()["batch_id"]
    overlap = http.post("/v1/registry/issuances", json={"project": 7, "vintage": 2023, "amount": 10, "serials": "T-7-2023-495 to 504"},
                        headers=h(keys, "registry", "i2"))
    assert problem(overlap, 409, "contract-refused")["error"]
    r = http.post("/v1/enterprise/retirements", json={"asset": "CCER-7-2023", "batch_id": batch, "amount": 120,
                                                      "beneficiary": "Owner", "purpose": "voluntary"}, headers=h(keys, "owner", "r7"))
    assert r.status_code == 201, r.text
    cert = r.json()
    assert (cert["serialStart"], cert["serialEnd"], cert["amount"]) == (1, 120, 120) and cert["tx_hash"]
    again = http.get(f"/v1/registry/certificates/{cert['certificate_id']}", headers=h(keys, "regulator")).json()
    assert again["serialEnd"] == 120 and again["tx_hash"] == cert["tx_hash"]
    problem(http.get("/v1/registry/certificates/99", headers=h(keys, "regulator")), 404, "not-found")
    # issue 12: serial-level status, from the registry and from the audit
    got = http.get("/v1/registry/serials", params={"serial": "T-7-2023-50"}, headers=h(keys, "regulator"))
    assert got.status_code == 200, got.text
    got = got.json()
    assert (got["status"], got["run"], got["issued_in"]["batch_id"]) == ("retired", "T-7-2023-1 to 120", batch)
    assert got["marked_by"]["event"] == "RetirementCertified" and got["marked_by"]["tx_hash"] == cert["tx_hash"]
    active = http.get("/v1/audit/serials", params={"serial": "T-7-2023-121"}).json()
    assert (active["status"], active["run"], active["marked_by"]) == ("active", "T-7-2023-121 to 500", None)
    assert http.get("/v1/audit/serials", params={"serial": "T-7-2023-501"}).json()["status"] == "unissued"
    problem(http.get("/v1/registry/serials", params={"serial": "T-7-2023-"}, headers=h(keys, "regulator")), 422, "validation-error")
    problem(http.get("/v1/registry/serials", params={"serial": "T-7-2023-0"}, headers=h(keys, "regulator")), 422, "validation-error")
    problem(http.get("/v1/registry/serials", params={"serial": "T-7-2023-5"}), 401, "unauthenticated")


def test_market_endpoints_refuse_outsiders_wrong_roles_and_bad_input(env) -> None:
    w, http, keys = env
    t = trade(w, 9, w.acct["enterprise"], w.acct["enterprise2"], 1, 5000)
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [t]}), 401, "unauthenticated")
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [t]}, headers=h(keys, "enterprise", "x")), 403, "wrong-role")
    problem(http.post("/v1/registry/issuances", json={"project": 1, "vintage": 2023, "amount": 1}, headers=h(keys, "exchange", "x")),
            403, "wrong-role")
    problem(http.post("/v1/regulator/freezes", json={"account": w.acct["enterprise"], "frozen": True, "reason": "x"},
                      headers=h(keys, "enterprise")), 403, "wrong-role")
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [t]}, headers=h(keys, "exchange")), 422, "validation-error")  # no key
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [t]}, headers=h(keys, "exchange", "nr")), 409, "no-reference-price")
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [{**t, "quantity": 0}]}, headers=h(keys, "exchange", "q0")),
            422, "validation-error")
    problem(http.post("/v1/exchange/trade-batches", json={"trades": [t, t], "reference_close_fen": {f"CEA-{YEAR}": 5000}},
                      headers=h(keys, "exchange", "dup")), 422, "validation-error")
    problem(http.get("/v1/audit/assets/CEA-99999/history", headers=h(keys, "regulator")), 422, "validation-error")
    problem(http.post("/v1/registry/issuances", json={"project": 1, "vintage": 2023, "amount": 5, "serials": "no range"},
                      headers=h(keys, "registry", "bad")), 422, "validation-error")
    # the contracts refuse before gas is spent: surrender without an open period, retiring more than held
    problem(http.post("/v1/enterprise/surrenders", json={"year": YEAR, "asset": f"CEA-{YEAR}", "amount": 1},
                      headers=h(keys, "enterprise", "s1")), 409, "contract-refused")
    problem(http.post("/v1/enterprise/retirements", json={"asset": f"CEA-{YEAR}", "amount": 1, "beneficiary": "b", "purpose": "p"},
                      headers=h(keys, "enterprise", "r9")), 409, "contract-refused")
