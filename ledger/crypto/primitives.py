"""Hashing and signing for CarbonLedger — the one module behind which the curve and hash live.

DESIGN.md §3 ("National cryptography"): FISCO BCOS in 国密 mode signs with SM2 and hashes with
SM3, so every hash and signature of the project goes through this module; an SM2/SM3 variant
can later be added here without touching callers. The default is secp256k1 + keccak256
(Ethereum / EIP-712), which is what OpenZeppelin's ``EIP712``, ``ECDSA`` and ``MerkleProof``
check on-chain.

What is here (shapes are bytes unless stated):

* :func:`keccak256` — 32-byte Keccak-256 (the pre-standard padding Ethereum uses, not SHA3-256).
* :class:`Eip712Domain` — the EIP-712 domain and its cached separator.
* :class:`Reading` / :class:`BatchReport` — the two fixed typed-data structs of COMMON.md, with
  hand-written ``abi.encode`` (one :mod:`struct` call) for the hot paths: struct hash, EIP-712
  digest and the OpenZeppelin StandardMerkleTree leaf of a reading.
* :func:`config_digest` — the OCR-style digest binding chain id, anchor, oracle-set version, salt.
* :class:`Signer`, :func:`recover_address`, :func:`recover_address_bytes` — secp256k1 signing
  and recovery with coincurve (libsecp256k1), 65-byte ``r ‖ s ‖ v`` signatures with v ∈ {27, 28},
  refusing malleable (high-s) signatures exactly like OpenZeppelin ``ECDSA.recover``.

Everything is tested bit for bit against eth-account (tests/test_crypto.py).
Run ``python -m ledger.crypto.primitives`` to print the measured rates (:func:`bench`).
"""

from __future__ import annotations

import ctypes
import secrets
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import coincurve
from Crypto.Hash import keccak as _keccak

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

    Uses pycryptodome's C implementation (about 240k calls/s for 288-byte inputs measured on
    the 2-core dev box). ``data`` may be any bytes-like object.
    """
    return _keccak.new(data=data, digest_bits=256).digest()


class _RawKeccak:
    """Hot-path Keccak-256 straight on pycryptodome's C library (``Crypto/Hash/_keccak``): one
    reusable state per thread and three C calls per hash instead of pycryptodome's object
    wrapper — about 2.5 µs instead of 4.6 µs per 288-byte hash on the dev box. Same C code, so
    the same digests (tests/test_bench.py compares both on many inputs). Falls back to
    :func:`keccak256` where the library cannot be loaded this way."""

    def __init__(self) -> None:
        self._ctypes = ctypes
        self._local = threading.local()
        try:
            lib = ctypes.CDLL(_keccak._raw_keccak_lib._name)  # type: ignore[attr-defined]
            lib.keccak_init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_uint8]
            lib.keccak_absorb.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.keccak_digest.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint8]
            lib.keccak_reset.argtypes = [ctypes.c_void_p]
            self._lib: Any = lib
            if self(b"") != keccak256(b""):
                raise RuntimeError("raw keccak disagrees with pycryptodome")
        except Exception:  # noqa: BLE001 - any loading problem: the plain path is always correct
            self._lib = None

    def _state(self) -> tuple[int, Any]:
        st = getattr(self._local, "st", None)
        if st is None:
            vp = self._ctypes.c_void_p()
            if self._lib.keccak_init(self._ctypes.byref(vp), 64, 24):   # capacity 512 bits, 24 rounds
                raise RuntimeError("keccak_init failed")
            st = self._local.st = (vp.value, self._ctypes.create_string_buffer(32))
        return st

    def __call__(self, data: bytes) -> bytes:
        lib = self._lib
        if lib is None:
            return keccak256(data)
        state, out = self._state()
        lib.keccak_absorb(state, data, len(data))
        lib.keccak_digest(state, out, 32, 1)      # padding 0x01: Keccak, not SHA-3
        lib.keccak_reset(state)
        return out.raw


#: Keccak-256 for the oracle hot path (see :class:`_RawKeccak`); ``bytes`` input only.
keccak256_fast = _RawKeccak()


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


def recover_address_bytes(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest`` (hot path: no checksum computed).

    Same acceptance rules as OpenZeppelin ``ECDSA.recover(bytes32, bytes)`` (5.x): 65 bytes,
    v ∈ {27, 28}, s ≤ n/2, a recoverable point.

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
    v = signature[64]
    if v != 27 and v != 28:
        raise InvalidSignature(f"signature v must be 27 or 28, got {v}")
    if int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        raise InvalidSignature("signature s is in the upper half of the curve order (malleable)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes((v - 27,)), bytes(digest), hasher=None
        )
    except Exception as exc:  # coincurve raises ValueError / generic Exception on failure
        raise InvalidSignature(f"signature does not recover a public key: {exc}") from None
    point = public_key.format(compressed=False)
    address = _RECOVERED_ADDRESSES.get(point)
    if address is None:
        if len(_RECOVERED_ADDRESSES) >= _RECOVERED_ADDRESSES_MAX:
            _RECOVERED_ADDRESSES.clear()
        address = _RECOVERED_ADDRESSES[point] = keccak256_fast(point[1:])[12:]
    return address


#: Recovered public key (65-byte uncompressed point) → address: a device signs thousands of
#: readings with one key, so the keccak of its point is computed once (bounded; cleared when full).
_RECOVERED_ADDRESSES: dict[bytes, bytes] = {}
_RECOVERED_ADDRESSES_MAX = 65_536


def recover_address(digest: bytes, signature: bytes) -> str:
    """The EIP-55 checksummed address that signed ``digest``; see :func:`recover_address_bytes`.

    Raises:
        ValueError / InvalidSignature: as :func:`recover_address_bytes`.
    """
    return to_checksum(recover_address_bytes(digest, signature))
