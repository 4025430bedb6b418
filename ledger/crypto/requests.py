"""EIP-712 signed API requests: the typed data, signing a request into headers, checking them.

Shared by the API server (:mod:`api.auth` verifies) and every client (:mod:`api.client`, the
demo, tests sign). A request is the struct

    ApiRequest(string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce)

in the domain ``EIP712Domain(string name,string version,uint256 chainId)`` with name
:data:`API_DOMAIN_NAME`, version :data:`API_DOMAIN_VERSION` and the chain id of the deployment
(no verifying contract: the API, not a contract, checks it). ``method`` is upper-cased; ``path``
is the URL path with its query string (``/v1/evidence?record_id=3``); ``bodyHash`` is
keccak256 of the raw body bytes (of ``b""`` without a body); ``timestamp`` is UTC seconds;
``nonce`` 32 random bytes, accepted once per account by the server.

Headers (:data:`HEADERS`): ``X-CL-Account`` (EIP-55), ``X-CL-Timestamp`` (decimal UTC s),
``X-CL-Nonce`` (0x + 64 hex) and ``X-CL-Signature`` (0x + 130 hex, 65-byte r‖s‖v).
Replay (nonce already used) and clock skew are the server's checks (:mod:`api.auth`), since
they need its store and clock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.crypto.primitives import (
    InvalidSignature,
    Signer,
    check_int,
    keccak256,
    recover_address,
    to_checksum,
)

API_DOMAIN_NAME = "CarbonLedger API"
API_DOMAIN_VERSION = "1"
API_REQUEST_TYPE = "ApiRequest(string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce)"
API_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
#: Header names of a signed request (account, timestamp, nonce, signature).
HEADERS = ("X-CL-Account", "X-CL-Timestamp", "X-CL-Nonce", "X-CL-Signature")
_TYPEHASH = keccak256(API_REQUEST_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(API_DOMAIN_TYPE.encode())
_U64_MAX = 2**64 - 1


class MalformedSignedRequest(ValueError):
    """Signed-request headers are missing or malformed, or the signature does not recover to the
    account named (the message says which)."""


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def api_domain_separator(chain_id: int) -> bytes:
    """EIP-712 domain separator of the API on chain ``chain_id`` (uint256).

    Raises:
        InvalidFieldError: chain id outside uint256.
    """
    check_int("EIP712Domain", "chainId", chain_id, 0, 2**256 - 1, "uint256")
    return keccak256(_DOMAIN_TYPEHASH + keccak256(API_DOMAIN_NAME.encode()) + keccak256(API_DOMAIN_VERSION.encode())
                     + _word(chain_id))


@dataclass(frozen=True)
class ApiRequest:
    """One signed API request's typed data.

    Attributes:
        method: HTTP method (upper-cased on construction).
        path: URL path with query string, exactly as sent (e.g. ``/v1/evidence?record_id=3``).
        body_hash: keccak256 of the raw body (32 bytes).
        timestamp: UTC seconds (uint64).
        nonce: 32 random bytes.

    Raises:
        InvalidFieldError: a field out of its Solidity type's range or of the wrong length.
    """

    method: str
    path: str
    body_hash: bytes
    timestamp: int
    nonce: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise MalformedSignedRequest(f"method must be a non-empty str, got {self.method!r}")
        object.__setattr__(self, "method", self.method.upper())
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise MalformedSignedRequest(f"path must start with '/', got {self.path!r}")
        for name, value in (("bodyHash", self.body_hash), ("nonce", self.nonce)):
            if not isinstance(value, bytes) or len(value) != 32:
                raise MalformedSignedRequest(f"{name} must be 32 bytes, got {value!r}")
        check_int("ApiRequest", "timestamp", self.timestamp, 0, _U64_MAX, "uint64")

    @classmethod
    def of(cls, method: str, path: str, body: bytes, timestamp: int, nonce: bytes) -> ApiRequest:
        """The request of raw ``body`` bytes (hashed here)."""
        return cls(method, path, keccak256(body), timestamp, nonce)

    def struct_hash(self) -> bytes:
        """``hashStruct(ApiRequest)``: keccak256(typehash ‖ keccak(method) ‖ keccak(path) ‖ bodyHash ‖ timestamp ‖ nonce)."""
        return keccak256(_TYPEHASH + keccak256(self.method.encode()) + keccak256(self.path.encode())
                         + self.body_hash + _word(self.timestamp) + self.nonce)

    def digest(self, chain_id: int) -> bytes:
        """The EIP-712 digest ``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)`` signed on chain ``chain_id``."""
        return keccak256(b"\x19\x01" + api_domain_separator(chain_id) + self.struct_hash())


def api_request_digest(chain_id: int, method: str, path: str, body: bytes, timestamp: int, nonce: bytes) -> bytes:
    """EIP-712 digest of a request with raw ``body`` (see :class:`ApiRequest`)."""
    return ApiRequest.of(method, path, body, timestamp, nonce).digest(chain_id)


def sign_request(signer: Signer, chain_id: int, method: str, path: str, body: bytes = b"",
                 now: int | None = None, nonce: bytes | None = None) -> dict[str, str]:
    """Headers of a request signed by ``signer`` (client side).

    Args:
        signer: the caller's :class:`ledger.crypto.primitives.Signer` (any object with ``address``
            and ``sign_digest(digest) -> 65 bytes``).
        chain_id: chain id of the deployment the API serves.
        method, path, body: the request exactly as sent (path with its query string).
        now: timestamp, UTC s (default: the clock); nonce: 32 bytes (default: random).

    Returns:
        the four :data:`HEADERS`.
    """
    ts = int(now if now is not None else time.time())
    nonce = nonce if nonce is not None else secrets.token_bytes(32)
    sig = signer.sign_digest(ApiRequest.of(method, path, body, ts, nonce).digest(chain_id))
    return {"X-CL-Account": signer.address, "X-CL-Timestamp": str(ts), "X-CL-Nonce": "0x" + nonce.hex(),
            "X-CL-Signature": "0x" + sig.hex()}


@dataclass(frozen=True)
class VerifiedRequest:
    """A signed request whose signature recovers to the account it names."""

    account: str      # EIP-55
    timestamp: int    # UTC s
    nonce: bytes      # 32 bytes


def verify_request(headers: Mapping[str, str], chain_id: int, method: str, path: str, body: bytes) -> VerifiedRequest:
    """Check the signature of a signed request (server side; freshness and replay are the
    caller's).

    Args:
        headers: the request's headers (case-insensitive mapping such as Starlette's, or a dict
            with the names of :data:`HEADERS` in any case).
        chain_id, method, path, body: as received (path with its query string).

    Returns:
        the account, timestamp and nonce.

    Raises:
        MalformedSignedRequest: a header missing or malformed, a bad signature, or a signature
            by another account than ``X-CL-Account``.
    """
    h = {k.lower(): v for k, v in headers.items()}
    try:
        account = to_checksum(h["x-cl-account"])
        ts = int(h["x-cl-timestamp"])
        nonce = bytes.fromhex(h["x-cl-nonce"].removeprefix("0x"))
        sig = bytes.fromhex(h["x-cl-signature"].removeprefix("0x"))
    except KeyError as exc:
        raise MalformedSignedRequest(f"malformed signed request headers: missing {exc.args[0]}") from None
    except ValueError as exc:
        raise MalformedSignedRequest(f"malformed signed request headers: {exc}") from None
    if len(nonce) != 32:
        raise MalformedSignedRequest("malformed signed request headers: nonce must be 32 bytes")
    if not 0 <= ts <= _U64_MAX:
        raise MalformedSignedRequest(f"malformed signed request headers: timestamp {ts} is not a uint64")
    digest = ApiRequest.of(method, path, body, ts, nonce).digest(chain_id)
    try:
        signer = recover_address(digest, sig)
    except InvalidSignature as exc:
        raise MalformedSignedRequest(f"bad request signature: {exc}") from None
    if signer != account:
        raise MalformedSignedRequest(f"request signed by {signer}, not by {account}")
    return VerifiedRequest(account, ts, nonce)
