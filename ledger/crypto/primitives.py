"""Hashing and signing for CarbonLedger — the one module behind which the curve and hash live.

DESIGN.md §3 ("National cryptography"): FISCO BCOS in 国密 mode signs with SM2 and hashes with
SM3, so every hash and signature of the project goes through this module; an SM2/SM3 variant
can later be added here without touching callers. The default is secp256k1 + keccak256
(Ethereum / EIP-712), which is what OpenZeppelin's ``EIP712``, ``ECDSA`` and ``MerkleProof``
check on-chain.

What is here (shapes are bytes unless stated):

* :func:`keccak256` — 32-byte Keccak-256 (the pre-standard padding Ethereum uses, not SHA3-256),
  from safe-pysha3's C code (:data:`KECCAK_IMPLEMENTATION`).
* :class:`Eip712Domain` — the EIP-712 domain and its cached separator.
* :class:`Signer`, :func:`recover_address`, :func:`recover_address_bytes` — secp256k1 signing
  and recovery with libsecp256k1 (coincurve's build; recovery calls it directly through
  coincurve's cffi module, :data:`SECP256K1_IMPLEMENTATION`), 65-byte ``r ‖ s ‖ v`` signatures
  with v ∈ {27, 28}, refusing malleable (high-s) signatures exactly like OpenZeppelin ``ECDSA.recover``.
* :func:`hot_path_implementations`, :func:`measure_hot_paths` — which implementations are in use
  and their measured per-call cost (printed by ``carbonledger bench ingest``).

The hot-path implementations are imported directly, never chosen at run time: a missing one
fails at import (issue 14: no silent slow path), and tests/test_crypto.py fails if another one
is bound. The meter-data structs that use them are in :mod:`ledger.meter_data.reading`.
Everything is tested bit for bit against eth-account / eth-utils (tests/test_crypto.py).
Run ``python -m ledger.crypto.primitives`` to print the implementations and per-call costs.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version as _dist_version
from typing import Any

import coincurve
import sha3 as _pysha3  # safe-pysha3 (PyPI), C extension module ``_pysha3``
from coincurve._libsecp256k1 import ffi as _ffi
from coincurve._libsecp256k1 import lib as _secp256k1
from coincurve.context import GLOBAL_CONTEXT as _SECP_CONTEXT
from coincurve.flags import EC_UNCOMPRESSED as _EC_UNCOMPRESSED

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: Order of the secp256k1 group (SEC 2 v2, §2.4.1).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: n / 2: signatures with s above it are malleable; OpenZeppelin ``ECDSA.tryRecover`` refuses
#: them (``ECDSAInvalidSignatureS``), as does Ethereum since EIP-2 for transactions.
SECP256K1_HALF_N = SECP256K1_N // 2

#: EIP-712 type strings — fixed by COMMON.md, shared with MeterDataAnchor.sol.
EIP712_DOMAIN_TYPE = (
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
#: EIP-712 domain name and version of the meter-data contract (COMMON.md).
METER_DATA_DOMAIN_NAME = "CarbonLedger MeterDataAnchor"
METER_DATA_DOMAIN_VERSION = "1"

ZERO_BYTES32 = bytes(32)

U8_MAX = (1 << 8) - 1
U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
U256_MAX = (1 << 256) - 1
I8_MIN, I8_MAX = -(1 << 7), (1 << 7) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1

# Sign-extension fill for int64 (24 bytes) and int8 (31 bytes) words of abi.encode.
FILL24 = (bytes(24), b"\xff" * 24)
FILL31 = (bytes(31), b"\xff" * 31)


# --------------------------------------------------------------------------------------------
# Hot-path implementations (issue 14: no silent slow path — each is imported directly, so a
# missing one fails at import, and tests/test_crypto.py fails if another one is in use)
# --------------------------------------------------------------------------------------------

#: Keccak-256 of the hot paths: safe-pysha3's C type ``_pysha3.keccak_256``;
#: ``keccak256_hasher(data).digest()`` is :func:`keccak256` without a Python call in between.
keccak256_hasher = _pysha3.keccak_256
#: What computes Keccak-256 here (printed by ``carbonledger bench ingest``).
KECCAK_IMPLEMENTATION = f"safe-pysha3 {_dist_version('safe-pysha3')} (C, {keccak256_hasher.__module__}.keccak_256)"
#: What recovers secp256k1 signatures here: libsecp256k1 as compiled into coincurve, called
#: through coincurve's own cffi module (``secp256k1_ecdsa_recover``), without its object wrappers.
SECP256K1_IMPLEMENTATION = (f"libsecp256k1 of coincurve {_dist_version('coincurve')} "
                            "(cffi module coincurve._libsecp256k1, secp256k1_ecdsa_recover called directly)")


def hot_path_implementations() -> dict[str, str]:
    """``{"keccak256": KECCAK_IMPLEMENTATION, "secp256k1": SECP256K1_IMPLEMENTATION}``."""
    return {"keccak256": KECCAK_IMPLEMENTATION, "secp256k1": SECP256K1_IMPLEMENTATION}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CryptoError(ValueError):
    """Base class of the errors raised by :mod:`ledger.crypto.primitives`."""


class InvalidFieldError(CryptoError):
    """A struct field is of the wrong type or outside its Solidity type's range."""

    def __init__(self, struct_name: str, field_name: str, value: object, expected: str) -> None:
        self.struct_name = struct_name
        self.field_name = field_name
        self.value = value
        self.expected = expected
        super().__init__(f"{struct_name}.{field_name} must be {expected}, got {value!r}")


class InvalidAddressError(CryptoError):
    """A value is not a 20-byte Ethereum address (bytes or 0x-prefixed 40-hex-digit string)."""


class InvalidPrivateKeyError(CryptoError):
    """A private key is not 32 bytes or not in [1, n-1] for secp256k1."""


class InvalidSignature(CryptoError):  # noqa: N818 — name fixed by the task spec
    """A signature is malformed, malleable (high s) or recovers no public key."""


# --------------------------------------------------------------------------------------------
# Hashing and addresses
# --------------------------------------------------------------------------------------------


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of ``data`` (Ethereum's ``keccak256``), 32 bytes.

    safe-pysha3's C implementation (:data:`KECCAK_IMPLEMENTATION`; eth-hash's "pysha3" backend),
    one C object per call; ``data`` may be any bytes-like object. tests/test_crypto.py compares
    it with eth-utils (pycryptodome backend) on many inputs.
    """
    return keccak256_hasher(data).digest()


#: The same function under the name the hot paths used before (kept for callers on other branches).
keccak256_fast = keccak256


def _self_check_keccak() -> None:
    """Refuse to import with a Keccak that is not Ethereum's (e.g. a SHA3-256 by mistake)."""
    if (keccak256_hasher(b"").hexdigest() != "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
            or keccak256_hasher(b"abc").hexdigest() != "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"):
        raise ImportError(f"{KECCAK_IMPLEMENTATION} does not compute Ethereum's Keccak-256")


_self_check_keccak()


def _hex_body(address: str) -> str:
    if not isinstance(address, str) or len(address) != 42 or address[:2] not in ("0x", "0X"):
        raise InvalidAddressError(f"address must be a 0x-prefixed 40-hex-digit string: {address!r}")
    body = address[2:]
    try:
        bytes.fromhex(body)
    except ValueError:
        raise InvalidAddressError(f"address has non-hex digits: {address!r}") from None
    return body


def address_bytes(address: str | bytes) -> bytes:
    """The 20 raw bytes of an address given as 0x-hex string (any case) or 20 bytes.

    The EIP-55 checksum of a mixed-case string is not enforced here (web3 does that at its own
    boundary); use :func:`to_checksum` to produce one.

    Raises:
        InvalidAddressError: not 20 bytes / not 0x + 40 hex digits.
    """
    if isinstance(address, (bytes, bytearray, memoryview)):
        raw = bytes(address)
        if len(raw) != 20:
            raise InvalidAddressError(f"address must be 20 bytes, got {len(raw)}")
        return raw
    return bytes.fromhex(_hex_body(address))


def to_checksum(address: str | bytes) -> str:
    """EIP-55 mixed-case checksum form ("0x" + 40 hex digits) of a 20-byte address.

    Args:
        address: 20 raw bytes, or a 0x-prefixed hex string in any case.

    Raises:
        InvalidAddressError: not a 20-byte address.
    """
    lower = address_bytes(address).hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c in "abcdef" and digest[i] in "89abcdef" else c for i, c in enumerate(lower)
    )


def check_bytes32(struct_name: str, field_name: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidFieldError(struct_name, field_name, value, "32 bytes (bytes32)")


def check_int(struct_name: str, field_name: str, value: object, lo: int, hi: int, sol: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidFieldError(struct_name, field_name, value, f"an int in [{lo}, {hi}] ({sol})")


# --------------------------------------------------------------------------------------------
# EIP-712 domain
# --------------------------------------------------------------------------------------------

EIP712_DOMAIN_TYPEHASH = keccak256(EIP712_DOMAIN_TYPE)


@dataclass(frozen=True)
class Eip712Domain:
    """EIP-712 domain ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)``.

    Attributes:
        name: domain name, e.g. :data:`METER_DATA_DOMAIN_NAME`.
        version: domain version, e.g. ``"1"``.
        chain_id: EVM chain id (uint256).
        verifying_contract: contract address; normalised to its EIP-55 checksum form.

    Raises:
        InvalidFieldError / InvalidAddressError: on construction, for out-of-range values.
    """

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidFieldError("EIP712Domain", "name", self.name, "a str")
        if not isinstance(self.version, str):
            raise InvalidFieldError("EIP712Domain", "version", self.version, "a str")
        check_int("EIP712Domain", "chainId", self.chain_id, 0, U256_MAX, "uint256")
        object.__setattr__(self, "verifying_contract", to_checksum(self.verifying_contract))

    @classmethod
    def meter_data(cls, chain_id: int, anchor_address: str | bytes) -> Eip712Domain:
        """The meter-data domain of COMMON.md for a MeterDataAnchor at ``anchor_address``."""
        return cls(METER_DATA_DOMAIN_NAME, METER_DATA_DOMAIN_VERSION, chain_id,
                   to_checksum(anchor_address))

    @cached_property
    def separator(self) -> bytes:
        """``hashStruct(domain)`` — the 32-byte domain separator (OZ ``_domainSeparatorV4()``)."""
        return keccak256(
            EIP712_DOMAIN_TYPEHASH
            + keccak256(self.name.encode("utf-8"))
            + keccak256(self.version.encode("utf-8"))
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + address_bytes(self.verifying_contract)
        )

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 JSON (``eth_signTypedData_v4`` / eth-account ``domain``)."""
        return {"name": self.name, "version": self.version, "chainId": self.chain_id,
                "verifyingContract": self.verifying_contract}


# --------------------------------------------------------------------------------------------
# secp256k1 signing and recovery (coincurve / libsecp256k1)
# --------------------------------------------------------------------------------------------


def new_private_key() -> bytes:
    """A fresh random secp256k1 private key: 32 bytes from :func:`secrets.token_bytes`, in [1, n-1]."""
    while True:
        secret = secrets.token_bytes(32)
        if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            return secret


def _address_of(public_key: coincurve.PublicKey) -> bytes:
    return keccak256(public_key.format(compressed=False)[1:])[12:]


class Signer:
    """A secp256k1 signing key (a device or an oracle) with its Ethereum address.

    Args:
        secret: the 32-byte private key, in [1, n-1].

    Raises:
        InvalidPrivateKeyError: not 32 bytes or out of range.
    """

    __slots__ = ("_key", "_address_bytes", "_address")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
            raise InvalidPrivateKeyError("private key must be 32 bytes")
        if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            raise InvalidPrivateKeyError("private key must be in [1, n-1] for secp256k1")
        self._key = coincurve.PrivateKey(bytes(secret))
        self._address_bytes = _address_of(self._key.public_key)
        self._address = to_checksum(self._address_bytes)

    @classmethod
    def generate(cls) -> Signer:
        """A signer with a fresh random key (:func:`new_private_key`)."""
        return cls(new_private_key())

    @property
    def address(self) -> str:
        """EIP-55 checksummed address ("0x" + 40 hex digits)."""
        return self._address

    @property
    def address_bytes(self) -> bytes:
        """The 20 raw address bytes."""
        return self._address_bytes

    @property
    def secret(self) -> bytes:
        """The 32-byte private key (keep it out of logs)."""
        return self._key.secret

    def __repr__(self) -> str:  # never print the key
        return f"Signer(address={self._address})"

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest: 65 bytes ``r ‖ s ‖ v``, v ∈ {27, 28}.

        Deterministic (RFC 6979) and low-s, as libsecp256k1 produces — identical to
        eth-account's ``sign_message`` / ``unsafe_sign_hash`` for the same key and digest.

        Raises:
            ValueError: ``digest`` is not 32 bytes.
        """
        if len(digest) != 32:
            raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
        sig = self._key.sign_recoverable(bytes(digest), hasher=None)
        return sig[:64] + bytes((sig[64] + 27,))


class _RecoveryScratch(threading.local):
    """Per-thread libsecp256k1 output structs for :func:`recover_address_bytes` (allocated once)."""

    def __init__(self) -> None:
        self.sig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self.pub = _ffi.new("secp256k1_pubkey *")
        self.point = _ffi.new("unsigned char[65]")
        self.point_len = _ffi.new("size_t *")
        self.point_bytes = _ffi.buffer(self.point)
        self.pub_bytes = _ffi.buffer(self.pub)


_scratch = _RecoveryScratch()
_CTX = _SECP_CONTEXT.ctx
#: s of a low-s signature, as 32 big-endian bytes (equal-length bytes compare as the numbers do).
_HALF_N_BYTES = SECP256K1_HALF_N.to_bytes(32, "big")


def recover_address_bytes(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest`` (hot path: no checksum computed).

    Same acceptance rules as OpenZeppelin ``ECDSA.recover(bytes32, bytes)`` (5.x): 65 bytes,
    v ∈ {27, 28}, s ≤ n/2, a recoverable point. libsecp256k1 (:data:`SECP256K1_IMPLEMENTATION`)
    is called directly: parse the compact signature, recover the point, serialise it
    uncompressed; the point's address (keccak of x ‖ y, last 20 bytes) is cached per point (keyed by
    libsecp256k1's own 64-byte form of the point, so a known device key costs no serialisation).

    Args:
        digest: the 32-byte signed digest.
        signature: 65 bytes ``r ‖ s ‖ v``.

    Raises:
        ValueError: ``digest`` is not 32 bytes.
        InvalidSignature: wrong length, v not 27/28, high s (malleable), r or s zero / ≥ n, or
            no public key recovers.
    """
    if len(digest) != 32:
        raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
    if len(signature) != 65:
        raise InvalidSignature(f"signature must be 65 bytes (r ‖ s ‖ v), got {len(signature)}")
    if type(signature) is not bytes:
        signature = bytes(signature)
    if type(digest) is not bytes:
        digest = bytes(digest)
    v = signature[64]
    if v != 27 and v != 28:
        raise InvalidSignature(f"signature v must be 27 or 28, got {v}")
    if signature[32:64] > _HALF_N_BYTES:
        raise InvalidSignature("signature s is in the upper half of the curve order (malleable)")
    s = _scratch
    if not _secp256k1.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, s.sig, signature, v - 27):
        raise InvalidSignature("signature does not recover a public key: r or s is not below the curve order")
    if not _secp256k1.secp256k1_ecdsa_recover(_CTX, s.pub, s.sig, digest):
        raise InvalidSignature("signature does not recover a public key")
    key = s.pub_bytes[:]            # libsecp256k1's 64-byte in-memory form of the recovered point
    address = _RECOVERED_ADDRESSES.get(key)
    if address is None:
        s.point_len[0] = 65
        _secp256k1.secp256k1_ec_pubkey_serialize(_CTX, s.point, s.point_len, s.pub, _EC_UNCOMPRESSED)
        if len(_RECOVERED_ADDRESSES) >= _RECOVERED_ADDRESSES_MAX:
            _RECOVERED_ADDRESSES.clear()
        address = _RECOVERED_ADDRESSES[key] = keccak256_hasher(s.point_bytes[1:]).digest()[12:]
    return address


#: Recovered public key (libsecp256k1's 64-byte ``secp256k1_pubkey`` contents) → address: a device signs thousands of
#: readings with one key, so the keccak of its point is computed once (bounded; cleared when full).
_RECOVERED_ADDRESSES: dict[bytes, bytes] = {}
_RECOVERED_ADDRESSES_MAX = 65_536


def recover_address(digest: bytes, signature: bytes) -> str:
    """The EIP-55 checksummed address that signed ``digest``; see :func:`recover_address_bytes`.

    Raises:
        ValueError / InvalidSignature: as :func:`recover_address_bytes`.
    """
    return to_checksum(recover_address_bytes(digest, signature))



def measure_hot_paths(min_seconds: float = 0.3) -> dict[str, float]:
    """Measured per-call cost (µs, single thread, wall clock) of the hot-path primitives.

    Returns:
        ``{"keccak256_288B_us", "keccak256_32B_us", "recover_us", "sign_us"}``: Keccak-256 of a
        288-byte input (a reading's struct encoding) and of 32 bytes, signature recovery to an
        address (:func:`recover_address_bytes`), and signing a digest — each the mean over at
        least ``min_seconds``.
    """
    signer = Signer(keccak256(b"carbonledger measure_hot_paths (public test key)"))
    data288 = bytes(range(256)) + bytes(32)
    digests = [keccak256(i.to_bytes(8, "big")) for i in range(200)]
    pairs = [(d, signer.sign_digest(d)) for d in digests]

    def per_call(fn: Any, items: list[Any]) -> float:
        done, t0 = 0, time.perf_counter()
        while True:
            for item in items:
                fn(item)
            done += len(items)
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                return 1e6 * elapsed / done

    return {
        "keccak256_288B_us": per_call(keccak256, [data288] * 500),
        "keccak256_32B_us": per_call(keccak256, digests),
        "recover_us": per_call(lambda p: recover_address_bytes(*p), pairs),
        "sign_us": per_call(signer.sign_digest, digests),
    }


if __name__ == "__main__":
    for name, impl in hot_path_implementations().items():
        print(f"{name:10s} {impl}")
    for name, value in measure_hot_paths().items():
        print(f"{name:20s} {value:8.2f}")
