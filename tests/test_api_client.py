"""The typed HTTP client (api/client.py) against a recorded server (httpx.MockTransport): signed
requests verify on the server side, errors carry the RFC 9457 problem, pages are followed.
The client against the real API: tests/test_verify_cli.py and the demo (tests/test_e2e.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from api.client import ApiClient, ApiError
from ledger.crypto.primitives import Signer
from ledger.crypto.requests import verify_request

CHAIN_ID = 31337
SIGNER = Signer(bytes.fromhex("33" * 32))


def _server(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        path = req.url.raw_path.decode()
        if path.startswith("/v1/enterprise/records") and req.method == "POST":
            return httpx.Response(409, json={"type": "/v1/problems/no-anchored-data", "title": "No anchored data",
                                             "status": 409, "detail": "month 2007-05 has no batch"},
                                  headers={"content-type": "application/problem+json"})
        if path.startswith("/v1/verifier/records?"):
            page = req.url.params.get("cursor")
            items = [{"record_id": 3}] if page == "c2" else [{"record_id": 1}, {"record_id": 2}]
            return httpx.Response(200, json={"items": items, "next_cursor": None if page == "c2" else "c2"})
        if path.startswith("/v1/evidence"):
            return httpx.Response(404, text="Not Found")
        if path == "/v1/audit/records/5":
            return httpx.Response(200, json={"record_id": 5, "status": "submitted"})
        return httpx.Response(500, text="<html>boom</html>")
    return httpx.MockTransport(handle)


def test_every_request_of_a_signer_client_is_signed_for_its_path_and_body() -> None:
    seen: list[httpx.Request] = []
    c = ApiClient("http://api", signer=SIGNER, chain_id=CHAIN_ID, transport=_server(seen))
    with pytest.raises(ApiError):
        c.create_record(b"\x01" * 32, 2007, 5, 1, submit=True, idempotency_key="k-1")
    assert c.record(5) == {"record_id": 5, "status": "submitted"}
    for req in seen:
        got = verify_request(req.headers, CHAIN_ID, req.method, req.url.raw_path.decode(), req.content)
        assert got.account == SIGNER.address
    assert json.loads(seen[0].content) == {"device": "0x" + "01" * 32, "year": 2007, "month": 5, "factor_set_id": 1,
                                           "submit": True}
    assert seen[0].headers["idempotency-key"] == "k-1" and "authorization" not in seen[0].headers


def test_an_error_answer_is_one_exception_carrying_the_problem() -> None:
    c = ApiClient("http://api", api_key="clk_a_b", transport=_server([]))
    with pytest.raises(ApiError) as e:
        c.create_record(b"\x01" * 32, 2007, 5, 1)
    assert (e.value.status, e.value.slug, e.value.problem["detail"]) == (409, "no-anchored-data", "month 2007-05 has no batch")
    with pytest.raises(ApiError) as e:
        c.confirm_record(9)                                   # a body that is no problem document
    assert e.value.status == 500 and e.value.problem == {"detail": "<html>boom</html>"} and e.value.slug == ""


def test_an_unreachable_api_is_an_api_error_without_status() -> None:
    c = ApiClient("http://127.0.0.1:9", api_key="clk_a_b", timeout=2)
    with pytest.raises(ApiError) as e:
        c.record(1)
    assert e.value.status is None and e.value.problem["title"] == "unreachable"


def test_pages_are_followed_and_a_missing_evidence_listing_is_none() -> None:
    seen: list[httpx.Request] = []
    c = ApiClient("http://api", api_key="clk_a_b", transport=_server(seen))
    assert [r["record_id"] for r in c.assigned_records()] == [1, 2, 3]
    assert seen[0].headers["authorization"] == "Bearer clk_a_b"
    assert c.evidence(5) is None


def test_the_client_refuses_ambiguous_credentials() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ApiClient("http://api")
    with pytest.raises(ValueError, match="exactly one"):
        ApiClient("http://api", api_key="clk_a_b", signer=SIGNER, chain_id=1)
    with pytest.raises(ValueError, match="chain_id"):
        ApiClient("http://api", signer=SIGNER)
