"""The two fixed EIP-712 structs of the meter-data path: :class:`Reading` (signed by a device) and
:class:`BatchReport` (signed by the oracle nodes), with hand-written ``abi.encode`` for the hot paths
(struct hash, EIP-712 digest, the OpenZeppelin StandardMerkleTree leaf of a reading), the OCR-style
config digest and the typed-data JSON for wallets. Hashing and the curve stay in :mod:`ledger.crypto.primitives`.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto.primitives import (
    FILL24,
    FILL31,
    I8_MAX,
    I8_MIN,
    I64_MAX,
    I64_MIN,
    U16_MAX,
    U32_MAX,
    U64_MAX,
    U256_MAX,
    ZERO_BYTES32,
    Eip712Domain,
    InvalidSignature,
    Signer,
    address_bytes,
    check_bytes32,
    check_int,
    keccak256,
    keccak256_hasher,
    recover_address,
    recover_address_bytes,
)

READING_TYPE = (
    b"Reading(bytes32 device,uint64 sequence,uint64 start,uint64 end,uint16 quantityCode,"
    b"int64 value,int8 scale,uint32 flags)"
)
BATCH_REPORT_TYPE = (
    b"BatchReport(bytes32 configDigest,bytes32 device,uint64 start,uint64 end,uint32 count,"
    b"uint64 totalWh,bytes32 root,bytes32 supersedes)"
)


#: Reading.quantityCode 1: average active power in W (value × 10^scale W) — COMMON.md.
QUANTITY_ACTIVE_POWER_W = 1
#: Reading.flags bit 0: the value is substituted, not measured — COMMON.md.
FLAG_SUBSTITUTED = 1



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
        check_bytes32("Reading", "device", self.device)
        check_int("Reading", "sequence", self.sequence, 0, U64_MAX, "uint64")
        check_int("Reading", "start", self.start, 0, U64_MAX, "uint64")
        check_int("Reading", "end", self.end, 0, U64_MAX, "uint64")
        check_int("Reading", "quantityCode", self.quantity_code, 0, U16_MAX, "uint16")
        check_int("Reading", "value", self.value, I64_MIN, I64_MAX, "int64")
        check_int("Reading", "scale", self.scale, I8_MIN, I8_MAX, "int8")
        check_int("Reading", "flags", self.flags, 0, U32_MAX, "uint32")

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

    def leaf_values(self, signature: bytes) -> list[Any]:
        """Values in StandardMerkleTree leaf order (COMMON.md), for ``StandardMerkleTree.of``: the
        eight fields, then ``keccak256(signature)`` of the device's 65-byte signature (bytes32)."""
        return [self.device, self.sequence, self.start, self.end, self.quantity_code,
                self.value, self.scale, self.flags, keccak256(signature)]


def _pack_reading(packer: struct.Struct, head: tuple[bytes, ...], r: Reading) -> bytes:
    device = r.device
    value = r.value
    scale = r.scale
    try:
        if len(device) != 32:  # struct's "32s" would silently pad or truncate
            raise ValueError
        return packer.pack(
            *head, device, r.sequence, r.start, r.end, r.quantity_code,
            FILL24[value < 0], value, FILL31[scale < 0], scale, r.flags,
        )
    except (struct.error, ValueError, TypeError):
        r.validate_ranges()  # raises InvalidFieldError naming the field
        raise  # pragma: no cover — validate_ranges and struct agree on every range


def reading_struct_hash(r: Reading) -> bytes:
    """EIP-712 ``hashStruct(reading)`` = keccak256(abi.encode(READING_TYPEHASH, fields...)), 32 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type (see :meth:`Reading.validate_ranges`).
    """
    return keccak256(_pack_reading(_READING_STRUCT, (READING_TYPEHASH,), r))


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


def reading_digest_and_leaf(domain_separator: bytes, r: Reading, signature: bytes) -> tuple[bytes, bytes]:
    """``(reading_digest(domain_separator, r), reading_leaf(r, signature))`` with one ``abi.encode``:
    what an oracle node and the provenance check compute for every reading (five Keccak-256 calls).

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: see
        :func:`reading_struct_hash`.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    return digest_and_leaf_of_encoding(domain_separator, _pack_reading(_READING_LEAF, (), r), signature)


def encode_reading_fields(device: bytes, sequence: int, start: int, end: int, quantity_code: int, value: int,
                          scale: int, flags: int) -> bytes:
    """``abi.encode`` of a reading's eight fields (256 bytes) straight from values, for hot loops
    that hold readings as tuples (oracle check workers). Same bytes as :func:`encode_reading_leaf_values`.

    Raises:
        InvalidFieldError: a field outside its Solidity type (checked as :meth:`Reading.validate_ranges`).
    """
    if (type(device) is bytes and len(device) == 32 and type(sequence) is int and type(start) is int
            and type(end) is int and type(quantity_code) is int and type(value) is int and type(scale) is int
            and type(flags) is int):
        try:
            return _READING_LEAF.pack(device, sequence, start, end, quantity_code, FILL24[value < 0], value,
                                      FILL31[scale < 0], scale, flags)
        except struct.error:
            pass
    Reading(device, sequence, start, end, quantity_code, value, scale, flags).validate_ranges()  # names the bad field
    # int / bytes subclasses (not bool) that validate_ranges accepts: encode their plain values
    return _READING_LEAF.pack(bytes(device), int(sequence), int(start), int(end), int(quantity_code),
                              FILL24[value < 0], int(value), FILL31[scale < 0], int(scale), int(flags))


def digest_and_leaf_of_encoding(domain_separator: bytes, encoding: bytes, signature: bytes) -> tuple[bytes, bytes]:
    """``(EIP-712 digest, StandardMerkleTree leaf)`` of a reading from its 256-byte field encoding
    (:func:`encode_reading_fields`), its device signature and a 32-byte domain separator (not
    checked here)::

        digest = keccak256("\\x19\\x01" ‖ domainSeparator ‖ keccak256(READING_TYPEHASH ‖ encoding))
        leaf   = keccak256(keccak256(encoding ‖ keccak256(signature)))

    The leaf carries the signature's hash (issue 12), so an on-chain proof
    (``MeterDataAnchor.verifyReading``) shows the device signed the reading.
    """
    k = keccak256_hasher
    digest = k(b"\x19\x01" + domain_separator + k(READING_TYPEHASH + encoding).digest()).digest()
    return digest, k(k(encoding + k(signature).digest()).digest()).digest()


def reading_leaves_and_signers(domain_separator: bytes, rows: Sequence[tuple[Any, ...]]) -> list[tuple[bytes, bytes | None]]:
    """Merkle leaf and recovered signer of many signed readings — the provenance check's per-reading
    work, as a plain function over tuples so it can run in worker processes
    (:class:`ledger.meter_data.workers.CheckWorkers`).

    Args:
        domain_separator: 32-byte EIP-712 domain separator.
        rows: ``(device, sequence, start, end, quantityCode, value, scale, flags, signature)`` tuples.

    Returns one ``(leaf, signer)`` per row, in order: the 32-byte StandardMerkleTree leaf and the
    20-byte address the signature recovers to (None if it recovers none: wrong length, v, high s).

    Raises:
        ValueError: ``domain_separator`` is not 32 bytes. InvalidFieldError: a field outside its
        Solidity type.
    """
    if len(domain_separator) != 32:
        raise ValueError(f"domain separator must be 32 bytes, got {len(domain_separator)}")
    out: list[tuple[bytes, bytes | None]] = []
    for row in rows:
        digest, leaf = digest_and_leaf_of_encoding(domain_separator, encode_reading_fields(*row[:8]), row[8])
        try:
            signer: bytes | None = recover_address_bytes(digest, row[8])
        except (InvalidSignature, ValueError):
            signer = None
        out.append((leaf, signer))
    return out


def encode_reading_leaf_values(r: Reading) -> bytes:
    """``abi.encode(device, sequence, start, end, quantityCode, value, scale, flags)``, 256 bytes.

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    return _pack_reading(_READING_LEAF, (), r)


def reading_leaf(r: Reading, signature: bytes) -> bytes:
    """StandardMerkleTree leaf of a reading and its device signature, 32 bytes (COMMON.md, OZ
    merkle-tree ``standardLeafHash``; ``MeterDataAnchor.readingLeaf``).

    ``keccak256(bytes.concat(keccak256(abi.encode(device, sequence, start, end, quantityCode,
    value, scale, flags, keccak256(signature)))))`` — no typehash; double hashing prevents
    second-preimage attacks with 64-byte internal nodes. The signature hash makes an on-chain
    proof show that the device signed the reading (issue 12).

    Raises:
        InvalidFieldError: a field outside its Solidity type.
    """
    return keccak256(keccak256(_pack_reading(_READING_LEAF, (), r) + keccak256(signature)))


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
        root: bytes32 StandardMerkleTree root of the readings' leaves (:mod:`ledger.meter_data.merkle`).
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
        check_bytes32("BatchReport", "configDigest", self.config_digest)
        check_bytes32("BatchReport", "device", self.device)
        check_int("BatchReport", "start", self.start, 0, U64_MAX, "uint64")
        check_int("BatchReport", "end", self.end, 0, U64_MAX, "uint64")
        check_int("BatchReport", "count", self.count, 0, U32_MAX, "uint32")
        check_int("BatchReport", "totalWh", self.total_wh, 0, U64_MAX, "uint64")
        check_bytes32("BatchReport", "root", self.root)
        check_bytes32("BatchReport", "supersedes", self.supersedes)

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
                  salt: bytes, oracles: Sequence[str | bytes], f: int) -> bytes:
    """``keccak256(abi.encode(uint256 chainId, address anchor, uint64 oracleSetVersion, bytes32 salt,
    address[] oracles, uint8 f))``.

    The OCR2-style configuration digest (``MeterDataAnchor.setOracles``): binds a batch report to
    one chain, one MeterDataAnchor deployment (``salt`` is the random per-deployment bytes32 given
    to its constructor), one oracle-set version, the signer set (in its configured order) and f.

    Raises:
        InvalidFieldError / InvalidAddressError: a value outside its Solidity type.
    """
    check_int("configDigest", "chainId", chain_id, 0, U256_MAX, "uint256")
    check_int("configDigest", "oracleSetVersion", oracle_set_version, 0, U64_MAX, "uint64")
    check_bytes32("configDigest", "salt", salt)
    check_int("configDigest", "f", f, 0, 255, "uint8")
    # head: 4 static words, the offset of the dynamic array (6 words of head), f; tail: length, items
    return keccak256(
        chain_id.to_bytes(32, "big")
        + bytes(12) + address_bytes(anchor_address)
        + oracle_set_version.to_bytes(32, "big")
        + salt
        + (6 * 32).to_bytes(32, "big")
        + f.to_bytes(32, "big")
        + len(oracles).to_bytes(32, "big")
        + b"".join(bytes(12) + address_bytes(o) for o in oracles)
    )


def quorum_of(n: int, f: int) -> int:
    """Signatures a report needs from ``n`` oracles tolerating ``f`` faulty ones: ⌊(n + f)/2⌋ + 1
    (OCR2; ``MeterDataAnchor.setOracles``).

    Raises:
        ValueError: not f ≥ 1 and n ≥ 3f + 1 (the contract's ``InvalidFaultTolerance``).
    """
    if f < 1 or n < 3 * f + 1:
        raise ValueError(f"an oracle set needs f >= 1 and n >= 3f + 1; got n={n}, f={f}")
    return (n + f) // 2 + 1


def supersedes_word(old_batch_id: int | None) -> bytes:
    """BatchReport.supersedes: ``bytes32(0)`` for a new batch (None), else ``bytes32(uint256(id))``.

    Raises:
        InvalidFieldError: ``old_batch_id`` not in [1, 2^256-1] (batch id 0 would mean "new").
    """
    if old_batch_id is None:
        return ZERO_BYTES32
    check_int("BatchReport", "supersedes", old_batch_id, 1, U256_MAX, "a non-zero uint256 id")
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
        "leaf_per_s": _rate(lambda r: reading_leaf(r, pairs[0][1]), readings, min_seconds),
        "sign_per_s": _rate(signer.sign_digest, digests, min_seconds),
        "recover_per_s": _rate(lambda p: recover_address_bytes(*p), pairs, min_seconds),
        "recover_checksum_per_s": _rate(lambda p: recover_address(*p), pairs, min_seconds),
    }


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"{name:24s} {value:12,.0f}")
