"""EIP-712 signed API requests (ledger/crypto/requests.py): the digest equals eth-account's
encoding of the same typed data, headers round-trip, and every tampered or malformed header is
refused before the server's replay and clock checks (tests/test_api_platform.py covers those)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from ledger.crypto.primitives import InvalidFieldError, Signer, keccak256
from ledger.crypto.requests import (
    ApiRequest,
    MalformedSignedRequest,
    api_request_digest,
    sign_request,
    verify_request,
)

CHAIN_ID = 31337
KEY = bytes.fromhex("11" * 32)


def test_api_request_digest_equals_eth_account_typed_data() -> None:
    nonce, body = bytes(range(32)), b'{"year":2007}'
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}],
            "ApiRequest": [{"name": "method", "type": "string"}, {"name": "path", "type": "string"},
                           {"name": "bodyHash", "type": "bytes32"}, {"name": "timestamp", "type": "uint64"},
                           {"name": "nonce", "type": "bytes32"}],
        },
        "primaryType": "ApiRequest",
        "domain": {"name": "CarbonLedger API", "version": "1", "chainId": CHAIN_ID},
        "message": {"method": "POST", "path": "/v1/enterprise/records?x=1", "bodyHash": keccak256(body),
                    "timestamp": 1_767_225_600, "nonce": nonce},
    }
    want = _hash_eip191_message(encode_typed_data(full_message=typed))
    assert api_request_digest(CHAIN_ID, "post", "/v1/enterprise/records?x=1", body, 1_767_225_600, nonce) == want
    # and a signature made by eth-account verifies here
    sig = Account.from_key(KEY).unsafe_sign_hash(want).signature
    headers = {"X-CL-Account": Account.from_key(KEY).address, "X-CL-Timestamp": "1767225600",
               "X-CL-Nonce": "0x" + nonce.hex(), "X-CL-Signature": "0x" + bytes(sig).hex()}
    assert verify_request(headers, CHAIN_ID, "POST", "/v1/enterprise/records?x=1", body).account == Account.from_key(KEY).address


def test_signed_headers_verify_and_carry_account_timestamp_nonce() -> None:
    s = Signer(KEY)
    h = sign_request(s, CHAIN_ID, "GET", "/v1/verifier/records", b"", now=1_000, nonce=b"\x07" * 32)
    got = verify_request({k.lower(): v for k, v in h.items()}, CHAIN_ID, "GET", "/v1/verifier/records", b"")
    assert (got.account, got.timestamp, got.nonce) == (s.address, 1_000, b"\x07" * 32)


@pytest.mark.parametrize("change", ["method", "path", "body", "chain", "timestamp", "account"])
def test_verify_request_refuses_a_tampered_request(change: str) -> None:
    h = sign_request(Signer(KEY), CHAIN_ID, "POST", "/v1/enterprise/records", b"{}", now=1_000)
    method, path, body, chain = "POST", "/v1/enterprise/records", b"{}", CHAIN_ID
    if change == "method":
        method = "PUT"
    elif change == "path":
        path = "/v1/enterprise/records?limit=6"
    elif change == "body":
        body = b"{ }"
    elif change == "chain":
        chain = 1
    elif change == "timestamp":
        h["X-CL-Timestamp"] = "1001"
    else:
        h["X-CL-Account"] = Signer(bytes.fromhex("22" * 32)).address
    with pytest.raises(MalformedSignedRequest, match="signed by"):
        verify_request(h, chain, method, path, body)


@pytest.mark.parametrize(("header", "value", "message"), [
    ("X-CL-Nonce", "0x1234", "nonce must be 32 bytes"),
    ("X-CL-Nonce", "0xzz", "malformed"),
    ("X-CL-Timestamp", "soon", "malformed"),
    ("X-CL-Timestamp", str(2**64), "not a uint64"),
    ("X-CL-Account", "0x1234", "malformed"),
    ("X-CL-Signature", "0x" + "00" * 65, "bad request signature"),
    ("X-CL-Signature", "0x00", "bad request signature"),
])
def test_verify_request_refuses_malformed_headers(header: str, value: str, message: str) -> None:
    h = sign_request(Signer(KEY), CHAIN_ID, "GET", "/v1/audit/totals")
    h[header] = value
    with pytest.raises(MalformedSignedRequest, match=message):
        verify_request(h, CHAIN_ID, "GET", "/v1/audit/totals", b"")


def test_verify_request_refuses_a_missing_header() -> None:
    h = sign_request(Signer(KEY), CHAIN_ID, "GET", "/v1/audit/totals")
    del h["X-CL-Nonce"]
    with pytest.raises(MalformedSignedRequest, match="missing x-cl-nonce"):
        verify_request(h, CHAIN_ID, "GET", "/v1/audit/totals", b"")


def test_api_request_refuses_fields_out_of_range() -> None:
    with pytest.raises(MalformedSignedRequest, match="path must start"):
        ApiRequest("GET", "v1/x", bytes(32), 0, bytes(32))
    with pytest.raises(MalformedSignedRequest, match="nonce must be 32 bytes"):
        ApiRequest("GET", "/v1/x", bytes(32), 0, bytes(31))
    with pytest.raises(InvalidFieldError):
        ApiRequest("GET", "/v1/x", bytes(32), -1, bytes(32))
