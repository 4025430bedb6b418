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
Run ``python -m ledger.crypto`` to print the measured rates (:func:`bench`).
"""

from __future__ import annotations

import secrets
import struct
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import coincurve
from Crypto.Hash import keccak as _keccak

__all__ = [
    "SECP256K1_N",
    "SECP256K1_HALF_N",
    "READING_TYPE",
    "BATCH_REPORT_TYPE",
    "EIP712_DOMAIN_TYPE",
    "READING_TYPEHASH",
    "BATCH_REPORT_TYPEHASH",
    "EIP712_DOMAIN_TYPEHASH",
    "METER_DATA_DOMAIN_NAME",
    "METER_DATA_DOMAIN_VERSION",
    "QUANTITY_ACTIVE_POWER_W",
    "FLAG_SUBSTITUTED",
    "ZERO_BYTES32",
    "CryptoError",
    "InvalidFieldError",
    "InvalidAddressError",
    "InvalidPrivateKeyError",
    "InvalidSignature",
    "keccak256",
    "to_checksum",
    "address_bytes",
    "Eip712Domain",
    "Reading",
    "BatchReport",
    "reading_struct_hash",
    "reading_digest",
    "reading_leaf",
    "reading_digest_and_leaf",
    "keccak256_fast",
    "encode_reading_leaf_values",
    "batch_report_struct_hash",
    "batch_report_digest",
    "config_digest",
    "supersedes_word",
    "reading_typed_data",
    "batch_report_typed_data",
    "new_private_key",
    "Signer",
    "recover_address",
    "recover_address_bytes",
    "bench",
]

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
READING_TYPE = (
    b"Reading(bytes32 device,uint64 sequence,uint64 start,uint64 end,uint16 quantityCode,"
    b"int64 value,int8 scale,uint32 flags)"
)
BATCH_REPORT_TYPE = (
    b"BatchReport(bytes32 configDigest,bytes32 device,uint64 start,uint64 end,uint32 count,"
    b"uint64 totalWh,bytes32 root,bytes32 supersedes)"
)

#: EIP-712 domain name and version of the meter-data contract (COMMON.md).
METER_DATA_DOMAIN_NAME = "CarbonLedger MeterDataAnchor"
METER_DATA_DOMAIN_VERSION = "1"

#: Reading.quantityCode 1: average active power in W (value × 10^scale W) — COMMON.md.
QUANTITY_ACTIVE_POWER_W = 1
#: Reading.flags bit 0: the value is substituted, not measured — COMMON.md.
FLAG_SUBSTITUTED = 1

ZERO_BYTES32 = bytes(32)

_U8_MAX = (1 << 8) - 1
_U16_MAX = (1 << 16) - 1
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_U256_MAX = (1 << 256) - 1
_I8_MIN, _I8_MAX = -(1 << 7), (1 << 7) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1

# Sign-extension fill for int64 (24 bytes) and int8 (31 bytes) words of abi.encode.
_FILL24 = (bytes(24), b"\xff" * 24)
_FILL31 = (bytes(31), b"\xff" * 31)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CryptoError(ValueError):
    """Base class of the errors raised by :mod:`ledger.crypto`."""


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
        import ctypes
        import threading

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


def _check_bytes32(struct_name: str, field_name: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidFieldError(struct_name, field_name, value, "32 bytes (bytes32)")


def _check_int(struct_name: str, field_name: str, value: object, lo: int, hi: int, sol: str) -> None:
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
        _check_int("EIP712Domain", "chainId", self.chain_id, 0, _U256_MAX, "uint256")
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
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

READING_TYPEHASH = keccak256(READING_TYPE)

# abi.encode(bytes32, uint64, uint64, uint64, uint16, int64, int8, uint32): eight 32-byte words.
# Unsigned words are zero-padded ("24x" + Q etc.); signed words carry their sign fill ("24s",
# "31s") before the two's-complement value. struct range-checks H/I/Q/q/b itself.
_LEAF_LAYOUT = "32s24xQ24xQ24xQ30xH24sq31sb28xI"
_READING_STRUCT = struct.Struct(">32s" + _LEAF_LAYOUT)  # typehash + fields
_READING_LEAF = struct.Struct(">" + _LEAF_LAYOUT)  # fields only
assert _READING_STRUCT.size == 9 * 32 and _READING_LEAF.size == 8 * 32


@dataclass(frozen=True, slots=True)
class Reading:
    """One signed meter reading (COMMON.md "Reading type string").

    Fields (Solidity type, unit):
        device: bytes32 device id registered in DeviceRegistry.
        sequence: uint64, strictly increasing per device.
        start, end: uint64 UTC unix seconds; the interval is ``[start, end)``.
        quantity_code: uint16; 1 = average active power in W (:data:`QUANTITY_ACTIVE_POWER_W`).
        value: int64; the quantity is ``value × 10^scale`` units (W for code 1).
        scale: int8 decimal exponent (0 for electricity in W).
        flags: uint32 bit field; 0 = measured, bit 0 = substituted (:data:`FLAG_SUBSTITUTED`).

    Construction does not check ranges (so a bad payload can still be represented and
    quarantined with a reason); call :meth:`validate_ranges`. Hashing functions refuse
    out-of-range fields with :class:`InvalidFieldError` either way.
    """

    device: bytes
    sequence: int
    start: int
    end: int
    quantity_code: int
    value: int
    scale: int
    flags: int

    def validate_ranges(self) -> None:
        """Check every field against its Solidity type.

        Raises:
            InvalidFieldError (a ValueError): naming the first bad field, its value and range.
        """
        _check_bytes32("Reading", "device", self.device)
        _check_int("Reading", "sequence", self.sequence, 0, _U64_MAX, "uint64")
        _check_int("Reading", "start", self.start, 0, _U64_MAX, "uint64")
        _check_int("Reading", "end", self.end, 0, _U64_MAX, "uint64")
        _check_int("Reading", "quantityCode", self.quantity_code, 0, _U16_MAX, "uint16")
        _check_int("Reading", "value", self.value, _I64_MIN, _I64_MAX, "int64")
        _check_int("Reading", "scale", self.scale, _I8_MIN, _I8_MAX, "int8")
        _check_int("Reading", "flags", self.flags, 0, _U32_MAX, "uint32")

    def as_message(self) -> dict[str, Any]:
        """The reading as EIP-712 JSON message (Solidity field names, device as 0x-hex)."""
        return {
            "device": "0x" + self.device.hex(),
            "sequence": self.sequence,
            "start": self.start,
            "end": self.end,
            "quantityCode": self.quantity_code,
            "value": self.value,
            "scale": self.scale,
            "flags": self.flags,
        }

    def leaf_values(self) -> list[Any]:
        """Values in StandardMerkleTree leaf order (COMMON.md), for ``StandardMerkleTree.of``."""
        return [self.device, self.sequence, self.start, self.end, self.quantity_code,
                self.value, self.scale, self.flags]


def _pack_reading(packer: struct.Struct, head: tuple[bytes, ...], r: Reading) -> bytes:
    device = r.device
    value = r.value
    scale = r.scale
    try:
        if len(device) != 32:  # struct's "32s" would silently pad or truncate
            raise ValueError
        return packer.pack(
            *head, device, r.sequence, r.start, r.end, r.quantity_code,
            _FILL24[value < 0], value, _FILL31[scale < 0], scale, r.flags,
        )
    except (struct.error, ValueError, TypeError):
        r.validate_ranges()  # raises InvalidFieldError naming the field
        raise  # pragma: no cover — validate_ranges and struct agree on every range


def reading_struct_hash(r: Reading) -> bytes:
    """EIP-712 ``hashStruct(reading)`` = keccak256(abi.encode(READING_TYPEHASH, fields...)), 32 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type (see :meth:`Reading.validate_ranges`).
    """
    return _keccak.new(data=_pack_reading(_READING_STRUCT, (READING_TYPEHASH,), r),
                       digest_bits=256).digest()


def reading_digest(domain_separator: bytes, r: Reading) -> bytes:
    """EIP-712 digest ``keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct(r))`` to sign, 32 bytes.

    Args:
        domain_separator: 32 bytes, e.g. ``Eip712Domain.meter_data(...).separator``.

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: see
        :func:`reading_struct_hash`.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    return keccak256(b"\x19\x01" + domain_separator + reading_struct_hash(r))


def reading_digest_and_leaf(domain_separator: bytes, r: Reading) -> tuple[bytes, bytes]:
    """``(reading_digest(domain_separator, r), reading_leaf(r))`` with one ``abi.encode`` and the
    hot-path Keccak (:data:`keccak256_fast`): what an oracle node computes for every reading.

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: see
        :func:`reading_struct_hash`.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    enc = _pack_reading(_READING_LEAF, (), r)
    k = keccak256_fast
    digest = k(b"\x19\x01" + domain_separator + k(READING_TYPEHASH + enc))
    return digest, k(k(enc))


def encode_reading_leaf_values(r: Reading) -> bytes:
    """``abi.encode(device, sequence, start, end, quantityCode, value, scale, flags)``, 256 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    return _pack_reading(_READING_LEAF, (), r)


def reading_leaf(r: Reading) -> bytes:
    """StandardMerkleTree leaf of a reading, 32 bytes (COMMON.md, OZ merkle-tree ``standardLeafHash``).

    ``keccak256(bytes.concat(keccak256(abi.encode(device, sequence, start, end, quantityCode,
    value, scale, flags))))`` — no typehash; double hashing prevents second-preimage attacks
    with 64-byte internal nodes.

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    inner = _keccak.new(data=_pack_reading(_READING_LEAF, (), r), digest_bits=256).digest()
    return _keccak.new(data=inner, digest_bits=256).digest()


# --------------------------------------------------------------------------------------------
# BatchReport and config digest
# --------------------------------------------------------------------------------------------

BATCH_REPORT_TYPEHASH = keccak256(BATCH_REPORT_TYPE)

# typehash, configDigest, device, start(u64), end(u64), count(u32), totalWh(u64), root, supersedes
_BATCH_STRUCT = struct.Struct(">32s32s32s24xQ24xQ28xI24xQ32s32s")
assert _BATCH_STRUCT.size == 9 * 32


@dataclass(frozen=True, slots=True)
class BatchReport:
    """An oracle batch report over one device's readings (COMMON.md "BatchReport type string").

    Fields (Solidity type, unit):
        config_digest: bytes32, see :func:`config_digest`.
        device: bytes32 device id.
        start, end: uint64 UTC unix seconds, the batch period ``[start, end)``.
        count: uint32 number of readings.
        total_wh: uint64 energy in Wh = (Σ W × s + 1800) // 3600 (DESIGN.md §5).
        root: bytes32 StandardMerkleTree root of the readings' leaves (:mod:`ledger.merkle`).
        supersedes: bytes32; zero for a new batch, else ``bytes32(uint256(oldBatchId))``
            (:func:`supersedes_word`).
    """

    config_digest: bytes
    device: bytes
    start: int
    end: int
    count: int
    total_wh: int
    root: bytes
    supersedes: bytes = field(default=ZERO_BYTES32)

    def validate_ranges(self) -> None:
        """Check every field against its Solidity type.

        Raises:
            InvalidFieldError (a ValueError): naming the first bad field, its value and range.
        """
        _check_bytes32("BatchReport", "configDigest", self.config_digest)
        _check_bytes32("BatchReport", "device", self.device)
        _check_int("BatchReport", "start", self.start, 0, _U64_MAX, "uint64")
        _check_int("BatchReport", "end", self.end, 0, _U64_MAX, "uint64")
        _check_int("BatchReport", "count", self.count, 0, _U32_MAX, "uint32")
        _check_int("BatchReport", "totalWh", self.total_wh, 0, _U64_MAX, "uint64")
        _check_bytes32("BatchReport", "root", self.root)
        _check_bytes32("BatchReport", "supersedes", self.supersedes)

    def as_message(self) -> dict[str, Any]:
        """The report as EIP-712 JSON message (Solidity field names, bytes32 as 0x-hex)."""
        return {
            "configDigest": "0x" + self.config_digest.hex(),
            "device": "0x" + self.device.hex(),
            "start": self.start,
            "end": self.end,
            "count": self.count,
            "totalWh": self.total_wh,
            "root": "0x" + self.root.hex(),
            "supersedes": "0x" + self.supersedes.hex(),
        }


def batch_report_struct_hash(b: BatchReport) -> bytes:
    """EIP-712 ``hashStruct(report)`` = keccak256(abi.encode(BATCH_REPORT_TYPEHASH, fields...)).

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    b.validate_ranges()  # cold path (one per batch): always check, struct would pad bytes32
    return keccak256(
        _BATCH_STRUCT.pack(BATCH_REPORT_TYPEHASH, b.config_digest, b.device, b.start, b.end,
                           b.count, b.total_wh, b.root, b.supersedes)
    )


def batch_report_digest(domain_separator: bytes, b: BatchReport) -> bytes:
    """EIP-712 digest of a batch report that each oracle signs, 32 bytes.

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: bad field.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    return keccak256(b"\x19\x01" + domain_separator + batch_report_struct_hash(b))


def config_digest(chain_id: int, anchor_address: str | bytes, oracle_set_version: int,
                  salt: bytes) -> bytes:
    """``keccak256(abi.encode(uint256 chainId, address anchor, uint64 oracleSetVersion, bytes32 salt))``.

    The OCR-style configuration digest of COMMON.md: binds a batch report to one chain, one
    MeterDataAnchor deployment (``salt`` is the random per-deployment bytes32 given to its
    constructor) and one oracle-set version.

    Raises:
        InvalidFieldError / InvalidAddressError: a value outside its Solidity type.
    """
    _check_int("configDigest", "chainId", chain_id, 0, _U256_MAX, "uint256")
    _check_int("configDigest", "oracleSetVersion", oracle_set_version, 0, _U64_MAX, "uint64")
    _check_bytes32("configDigest", "salt", salt)
    return keccak256(
        chain_id.to_bytes(32, "big")
        + bytes(12) + address_bytes(anchor_address)
        + oracle_set_version.to_bytes(32, "big")
        + salt
    )


def supersedes_word(old_batch_id: int | None) -> bytes:
    """BatchReport.supersedes: ``bytes32(0)`` for a new batch (None), else ``bytes32(uint256(id))``.

    Raises:
        InvalidFieldError: ``old_batch_id`` not in [1, 2^256-1] (batch id 0 would mean "new").
    """
    if old_batch_id is None:
        return ZERO_BYTES32
    _check_int("BatchReport", "supersedes", old_batch_id, 1, _U256_MAX, "a non-zero uint256 id")
    return old_batch_id.to_bytes(32, "big")


# --------------------------------------------------------------------------------------------
# EIP-712 JSON (for eth-account, wallets, eth_signTypedData_v4)
# --------------------------------------------------------------------------------------------

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_READING_FIELDS = [
    {"name": "device", "type": "bytes32"},
    {"name": "sequence", "type": "uint64"},
    {"name": "start", "type": "uint64"},
    {"name": "end", "type": "uint64"},
    {"name": "quantityCode", "type": "uint16"},
    {"name": "value", "type": "int64"},
    {"name": "scale", "type": "int8"},
    {"name": "flags", "type": "uint32"},
]
_BATCH_FIELDS = [
    {"name": "configDigest", "type": "bytes32"},
    {"name": "device", "type": "bytes32"},
    {"name": "start", "type": "uint64"},
    {"name": "end", "type": "uint64"},
    {"name": "count", "type": "uint32"},
    {"name": "totalWh", "type": "uint64"},
    {"name": "root", "type": "bytes32"},
    {"name": "supersedes", "type": "bytes32"},
]


def reading_typed_data(domain: Eip712Domain, r: Reading) -> dict[str, Any]:
    """Full EIP-712 typed data of a reading (``eth_signTypedData_v4`` JSON; a fresh dict)."""
    return {
        "types": {"EIP712Domain": list(_DOMAIN_FIELDS), "Reading": list(_READING_FIELDS)},
        "primaryType": "Reading",
        "domain": domain.as_dict(),
        "message": r.as_message(),
    }


def batch_report_typed_data(domain: Eip712Domain, b: BatchReport) -> dict[str, Any]:
    """Full EIP-712 typed data of a batch report (``eth_signTypedData_v4`` JSON; a fresh dict)."""
    return {
        "types": {"EIP712Domain": list(_DOMAIN_FIELDS), "BatchReport": list(_BATCH_FIELDS)},
        "primaryType": "BatchReport",
        "domain": domain.as_dict(),
        "message": b.as_message(),
    }


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


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------


def _rate(fn: Any, items: list[Any], min_seconds: float) -> float:
    done = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_seconds:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.perf_counter() - t0
    return done / elapsed


def bench(min_seconds: float = 1.0) -> dict[str, float]:
    """Measure this machine's rates (operations per second, single thread).

    Returns:
        ``{"struct_hash_per_s", "digest_per_s", "leaf_per_s", "sign_per_s", "recover_per_s",
        "recover_checksum_per_s"}`` — each measured over at least ``min_seconds``.
    """
    rng = secrets.SystemRandom()
    device = secrets.token_bytes(32)
    readings = [
        Reading(device, i, 1_700_000_000 + 60 * i, 1_700_000_060 + 60 * i, 1,
                rng.randrange(-(1 << 20), 1 << 20), 0, 0)
        for i in range(1_000)
    ]
    domain = Eip712Domain.meter_data(31337, "0x" + "11" * 20)
    sep = domain.separator
    signer = Signer.generate()
    digests = [reading_digest(sep, r) for r in readings]
    pairs = [(d, signer.sign_digest(d)) for d in digests]
    return {
        "struct_hash_per_s": _rate(reading_struct_hash, readings, min_seconds),
        "digest_per_s": _rate(lambda r: reading_digest(sep, r), readings, min_seconds),
        "leaf_per_s": _rate(reading_leaf, readings, min_seconds),
        "sign_per_s": _rate(signer.sign_digest, digests, min_seconds),
        "recover_per_s": _rate(lambda p: recover_address_bytes(*p), pairs, min_seconds),
        "recover_checksum_per_s": _rate(lambda p: recover_address(*p), pairs, min_seconds),
    }


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"{name:24s} {value:12,.0f}")
