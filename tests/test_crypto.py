"""ledger.crypto.primitives against eth-account / eth-abi / eth-utils, bit for bit.

The EIP-712 messages here are written out literally from COMMON.md (not built with
ledger.crypto.primitives's own typed-data helpers), so a wrong field name, type or order in the hand
encoder shows up as a digest mismatch.
"""

from __future__ import annotations

import dataclasses

import coincurve
import coincurve._libsecp256k1
import eth_abi
import pytest
import sha3
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as eth_keccak
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto import primitives as crypto
from ledger.crypto.primitives import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    Eip712Domain,
    InvalidAddressError,
    InvalidFieldError,
    InvalidPrivateKeyError,
    InvalidSignature,
    Signer,
)
from ledger.meter_data import merkle, reading
from ledger.meter_data.reading import BatchReport, Reading

U64 = 2**64 - 1

# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------

bytes32 = st.binary(min_size=32, max_size=32)
uint64 = st.integers(0, U64)
readings = st.builds(
    Reading,
    device=bytes32,
    sequence=uint64,
    start=uint64,
    end=uint64,
    quantity_code=st.integers(0, 2**16 - 1),
    value=st.integers(-(2**63), 2**63 - 1),
    scale=st.integers(-128, 127),
    flags=st.integers(0, 2**32 - 1),
)
batch_reports = st.builds(
    BatchReport,
    config_digest=bytes32,
    device=bytes32,
    start=uint64,
    end=uint64,
    count=st.integers(0, 2**32 - 1),
    total_wh=uint64,
    root=bytes32,
    supersedes=bytes32,
)
private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
domains = st.builds(
    Eip712Domain,
    name=st.sampled_from([crypto.METER_DATA_DOMAIN_NAME, "", "计量 ✓"]),
    version=st.sampled_from(["1", "2"]),
    chain_id=st.one_of(st.integers(0, 2**64), st.just(2**256 - 1)),
    verifying_contract=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
)

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def eth_reading_message(domain: Eip712Domain, r: Reading) -> dict:
    """The reading as eth-account typed data, spelled out from COMMON.md."""
    return {
        "types": {
            "EIP712Domain": DOMAIN_FIELDS,
            "Reading": [
                {"name": "device", "type": "bytes32"},
                {"name": "sequence", "type": "uint64"},
                {"name": "start", "type": "uint64"},
                {"name": "end", "type": "uint64"},
                {"name": "quantityCode", "type": "uint16"},
                {"name": "value", "type": "int64"},
                {"name": "scale", "type": "int8"},
                {"name": "flags", "type": "uint32"},
            ],
        },
        "primaryType": "Reading",
        "domain": {
            "name": domain.name,
            "version": domain.version,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": {
            "device": r.device,
            "sequence": r.sequence,
            "start": r.start,
            "end": r.end,
            "quantityCode": r.quantity_code,
            "value": r.value,
            "scale": r.scale,
            "flags": r.flags,
        },
    }


def eth_batch_message(domain: Eip712Domain, b: BatchReport) -> dict:
    """The batch report as eth-account typed data, spelled out from COMMON.md."""
    return {
        "types": {
            "EIP712Domain": DOMAIN_FIELDS,
            "BatchReport": [
                {"name": "configDigest", "type": "bytes32"},
                {"name": "device", "type": "bytes32"},
                {"name": "start", "type": "uint64"},
                {"name": "end", "type": "uint64"},
                {"name": "count", "type": "uint32"},
                {"name": "totalWh", "type": "uint64"},
                {"name": "root", "type": "bytes32"},
                {"name": "supersedes", "type": "bytes32"},
            ],
        },
        "primaryType": "BatchReport",
        "domain": {
            "name": domain.name,
            "version": domain.version,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": {
            "configDigest": b.config_digest,
            "device": b.device,
            "start": b.start,
            "end": b.end,
            "count": b.count,
            "totalWh": b.total_wh,
            "root": b.root,
            "supersedes": b.supersedes,
        },
    }


def sample_reading(**changes: object) -> Reading:
    base = Reading(b"\x42" * 32, 7, 1_700_000_000, 1_700_000_060, 1, 1_234_000, 0, 0)
    return dataclasses.replace(base, **changes)


def sample_domain() -> Eip712Domain:
    return Eip712Domain.meter_data(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3")


# ------------------------------------------------------------------------------------------
# Hashing
# ------------------------------------------------------------------------------------------


def test_keccak256_is_ethereum_keccak_not_sha3() -> None:
    assert crypto.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert crypto.keccak256(b"abc") == eth_keccak(b"abc")


@settings(max_examples=1_000)
@given(st.one_of(st.binary(max_size=300), st.binary(min_size=300, max_size=3_000)))
def test_keccak256_matches_eth_utils(data: bytes) -> None:
    assert crypto.keccak256(data) == eth_keccak(data)
    assert crypto.keccak256_hasher(data).digest() == eth_keccak(data)
    assert crypto.keccak256(bytearray(data)) == crypto.keccak256(memoryview(data)) == eth_keccak(data)


# ------------------------------------------------------------------------------------------
# Hot paths: the fast implementations are the ones in use (issue 14: no silent slow path)
# ------------------------------------------------------------------------------------------


def test_hot_path_keccak_is_safe_pysha3_c_code_everywhere() -> None:
    assert crypto.keccak256_hasher is sha3.keccak_256
    assert sha3.keccak_256.__module__ == "_pysha3" and not hasattr(sha3.keccak_256, "__code__")   # C, not Python
    assert crypto.keccak256_fast is crypto.keccak256
    # every hot-path module binds the same C constructor (not pycryptodome's object wrapper)
    assert reading.keccak256_hasher is merkle.keccak256_hasher is crypto.keccak256_hasher
    assert "safe-pysha3" in crypto.hot_path_implementations()["keccak256"]


def test_hot_paths_do_not_touch_pycryptodome_or_coincurve_wrappers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot paths still work with the slow wrappers disabled: they are not what runs."""
    signer = Signer(bytes.fromhex("11" * 32))
    sep = Eip712Domain.meter_data(31337, "0x" + "22" * 20).separator
    r = Reading(b"\x07" * 32, 1, 100, 160, 1, 4216, 0, 0)
    digest = reading.reading_digest(sep, r)
    sig = signer.sign_digest(digest)
    _, leaf = reading.reading_digest_and_leaf(sep, r, sig)
    crypto._RECOVERED_ADDRESSES.clear()

    def slow(*_a: object, **_k: object) -> None:
        raise AssertionError("a slow wrapper ran on a hot path")

    monkeypatch.setattr(pycryptodome_keccak, "new", slow)
    monkeypatch.setattr(coincurve.PublicKey, "from_signature_and_message", slow)
    monkeypatch.setattr(coincurve.PublicKey, "format", slow)
    assert reading.reading_digest_and_leaf(sep, r, sig) == (digest, leaf)
    assert reading.reading_digest(sep, r) == digest and reading.reading_leaf(r, sig) == leaf
    assert crypto.recover_address_bytes(digest, sig) == signer.address_bytes
    assert merkle.StandardMerkleTree.from_leaf_hashes([leaf, digest]).root == merkle.hash_pair(leaf, digest)


def test_recovery_calls_coincurves_libsecp256k1_directly() -> None:
    assert crypto._secp256k1 is coincurve._libsecp256k1.lib
    impl = crypto.hot_path_implementations()["secp256k1"]
    assert "libsecp256k1" in impl and "coincurve" in impl


def test_measure_hot_paths_reports_positive_per_call_costs() -> None:
    m = crypto.measure_hot_paths(min_seconds=0.01)
    assert set(m) == {"keccak256_288B_us", "keccak256_32B_us", "recover_us", "sign_us"}
    assert all(v > 0 for v in m.values())


def test_typehashes_are_keccak_of_common_type_strings() -> None:
    assert reading.READING_TYPEHASH == eth_keccak(
        text="Reading(bytes32 device,uint64 sequence,uint64 start,uint64 end,uint16 quantityCode,"
        "int64 value,int8 scale,uint32 flags)"
    )
    assert reading.BATCH_REPORT_TYPEHASH == eth_keccak(
        text="BatchReport(bytes32 configDigest,bytes32 device,uint64 start,uint64 end,uint32 count,"
        "uint64 totalWh,bytes32 root,bytes32 supersedes)"
    )


@given(st.binary(min_size=20, max_size=20))
def test_to_checksum_matches_eth_utils(raw: bytes) -> None:
    expected = to_checksum_address(raw)
    assert crypto.to_checksum(raw) == expected
    assert crypto.to_checksum("0x" + raw.hex().upper()) == expected


@pytest.mark.parametrize(
    "bad", ["0x1234", "5fbdb2315678afecb367f032d93f642f64180aa3", "0x" + "zz" * 20, b"\x00" * 19]
)
def test_address_refuses_malformed_address(bad: object) -> None:
    with pytest.raises(InvalidAddressError):
        crypto.address_bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidAddressError):
        Eip712Domain("n", "1", 1, bad)  # type: ignore[arg-type]


@SLOW
@given(domain=domains, r=readings, key=private_keys)
def test_reading_digest_and_signature_match_eth_account(
    domain: Eip712Domain, r: Reading, key: bytes
) -> None:
    signable = encode_typed_data(full_message=eth_reading_message(domain, r))
    assert signable.header == domain.separator
    assert signable.body == reading.reading_struct_hash(r)

    digest = reading.reading_digest(domain.separator, r)
    eth_signed = Account.sign_message(signable, private_key=key)
    assert bytes(eth_signed.message_hash) == digest

    signer = Signer(key)
    sig = signer.sign_digest(digest)
    # both libraries sign deterministically (RFC 6979) with low s: identical bytes
    assert sig == bytes(eth_signed.signature)
    assert sig[64] in (27, 28) and int.from_bytes(sig[32:64], "big") <= SECP256K1_HALF_N
    # recovery both ways
    assert Account.recover_message(signable, signature=sig) == signer.address
    assert crypto.recover_address(digest, bytes(eth_signed.signature)) == signer.address
    assert crypto.recover_address_bytes(digest, sig) == signer.address_bytes


@SLOW
@given(domain=domains, b=batch_reports, key=private_keys)
def test_batch_report_digest_and_signature_match_eth_account(
    domain: Eip712Domain, b: BatchReport, key: bytes
) -> None:
    signable = encode_typed_data(full_message=eth_batch_message(domain, b))
    assert signable.header == domain.separator
    assert signable.body == reading.batch_report_struct_hash(b)

    digest = reading.batch_report_digest(domain.separator, b)
    eth_signed = Account.sign_message(signable, private_key=key)
    assert bytes(eth_signed.message_hash) == digest
    sig = Signer(key).sign_digest(digest)
    assert sig == bytes(eth_signed.signature)
    assert crypto.recover_address(digest, sig) == Account.from_key(key).address


@settings(max_examples=300)
@given(r=readings)
def test_reading_leaf_is_double_keccak_of_abi_encoded_fields_and_signature_hash(r: Reading) -> None:
    encoded = eth_abi.encode(
        ["bytes32", "uint64", "uint64", "uint64", "uint16", "int64", "int8", "uint32"],
        [r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags],
    )
    assert reading.encode_reading_leaf_values(r) == encoded
    sig = bytes(range(65))
    with_sig = eth_abi.encode(
        ["bytes32", "uint64", "uint64", "uint64", "uint16", "int64", "int8", "uint32", "bytes32"],
        [r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, eth_keccak(sig)],
    )
    assert reading.reading_leaf(r, sig) == eth_keccak(eth_keccak(with_sig))
    assert reading.reading_leaf(r, sig[:64] + b"\x1c") != reading.reading_leaf(r, sig)


def test_reading_struct_hash_depends_on_every_field() -> None:
    base = sample_reading()
    changed = [
        dataclasses.replace(base, device=b"\x43" * 32),
        dataclasses.replace(base, sequence=8),
        dataclasses.replace(base, start=base.start - 1),
        dataclasses.replace(base, end=base.end + 1),
        dataclasses.replace(base, quantity_code=2),
        dataclasses.replace(base, value=-base.value),
        dataclasses.replace(base, scale=-1),
        dataclasses.replace(base, flags=reading.FLAG_SUBSTITUTED),
    ]
    hashes = {reading.reading_struct_hash(r) for r in [base, *changed]}
    leaves = {reading.reading_leaf(r, bytes(65)) for r in [base, *changed]}
    assert len(hashes) == len(leaves) == 9


@given(
    chain_id=st.integers(0, 2**256 - 1),
    anchor=st.binary(min_size=20, max_size=20),
    version=uint64,
    salt=bytes32,
    oracles=st.lists(st.binary(min_size=20, max_size=20), min_size=0, max_size=7),
    f=st.integers(0, 255),
)
def test_config_digest_matches_eth_abi(chain_id: int, anchor: bytes, version: int, salt: bytes,
                                       oracles: list[bytes], f: int) -> None:
    expected = eth_keccak(eth_abi.encode(["uint256", "address", "uint64", "bytes32", "address[]", "uint8"],
                                         [chain_id, anchor, version, salt, oracles, f]))
    assert reading.config_digest(chain_id, anchor, version, salt, oracles, f) == expected
    assert reading.config_digest(chain_id, "0x" + anchor.hex(), version, salt, ["0x" + o.hex() for o in oracles], f) == expected


def test_config_digest_refuses_short_salt() -> None:
    with pytest.raises(InvalidFieldError, match="salt"):
        reading.config_digest(1, "0x" + "11" * 20, 1, b"\x00" * 31, [], 1)


def test_supersedes_word_is_zero_for_new_batch_and_uint256_of_old_id() -> None:
    assert reading.supersedes_word(None) == bytes(32)
    assert reading.supersedes_word(5) == bytes(31) + b"\x05"
    with pytest.raises(InvalidFieldError):
        reading.supersedes_word(0)


def test_typed_data_helpers_give_the_same_digest_as_literal_messages() -> None:
    domain = sample_domain()
    r = sample_reading(value=-5, scale=-3)
    b = BatchReport(b"\x01" * 32, r.device, 0, 3600, 60, 1_000, b"\x02" * 32, bytes(32))
    for helper, literal in [
        (reading.reading_typed_data(domain, r), eth_reading_message(domain, r)),
        (reading.batch_report_typed_data(domain, b), eth_batch_message(domain, b)),
    ]:
        assert encode_typed_data(full_message=helper) == encode_typed_data(full_message=literal)


def test_domain_separator_is_cached_and_domain_normalises_address() -> None:
    domain = Eip712Domain("n", "1", 5, "0x5fbdb2315678afecb367f032d93f642f64180aa3")
    assert domain.verifying_contract == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert domain.separator is domain.separator
    assert domain == Eip712Domain("n", "1", 5, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def test_domain_refuses_negative_chain_id() -> None:
    with pytest.raises(InvalidFieldError, match="chainId"):
        Eip712Domain("n", "1", -1, "0x" + "11" * 20)


# ------------------------------------------------------------------------------------------
# Range checks
# ------------------------------------------------------------------------------------------

OUT_OF_RANGE = [
    ("device", b"\x00" * 31, "device"),
    ("device", "0x" + "00" * 32, "device"),
    ("sequence", -1, "sequence"),
    ("sequence", 2**64, "sequence"),
    ("start", 2**64, "start"),
    ("end", -1, "end"),
    ("quantity_code", 2**16, "quantityCode"),
    ("value", 2**63, "value"),
    ("value", -(2**63) - 1, "value"),
    ("scale", 128, "scale"),
    ("scale", -129, "scale"),
    ("flags", 2**32, "flags"),
    ("flags", 1.0, "flags"),
]


@pytest.mark.parametrize(("attr", "bad", "solidity_name"), OUT_OF_RANGE)
def test_reading_refuses_out_of_range_field(attr: str, bad: object, solidity_name: str) -> None:
    r = sample_reading(**{attr: bad})
    for check in (r.validate_ranges, lambda: reading.reading_struct_hash(r),
                  lambda: reading.reading_leaf(r, bytes(65))):
        with pytest.raises(InvalidFieldError, match=solidity_name) as info:
            check()
        assert isinstance(info.value, ValueError)
        assert info.value.field_name == solidity_name


def test_reading_extremes_of_each_range_are_accepted() -> None:
    for r in (
        Reading(bytes(32), 0, 0, 0, 0, -(2**63), -128, 0),
        Reading(b"\xff" * 32, U64, U64, U64, 2**16 - 1, 2**63 - 1, 127, 2**32 - 1),
    ):
        r.validate_ranges()
        assert len(reading.reading_struct_hash(r)) == 32


@pytest.mark.parametrize(
    ("attr", "bad", "solidity_name"),
    [
        ("config_digest", b"\x00" * 33, "configDigest"),
        ("root", b"", "root"),
        ("count", 2**32, "count"),
        ("total_wh", -1, "totalWh"),
        ("supersedes", None, "supersedes"),
    ],
)
def test_batch_report_refuses_out_of_range_field(attr: str, bad: object, solidity_name: str) -> None:
    b = BatchReport(b"\x01" * 32, b"\x02" * 32, 0, 3600, 60, 1_000, b"\x03" * 32)
    b = dataclasses.replace(b, **{attr: bad})
    with pytest.raises(InvalidFieldError, match=solidity_name):
        reading.batch_report_struct_hash(b)


def test_digest_refuses_short_domain_separator() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        reading.reading_digest(b"\x00" * 31, sample_reading())


# ------------------------------------------------------------------------------------------
# Keys, signing and recovery refusals
# ------------------------------------------------------------------------------------------


def test_new_private_key_gives_distinct_valid_keys() -> None:
    keys = {crypto.new_private_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert Signer(key).address == Account.from_key(key).address


@pytest.mark.parametrize(
    "bad", [bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31, b"\x01" * 33]
)
def test_signer_refuses_invalid_private_key(bad: bytes) -> None:
    with pytest.raises(InvalidPrivateKeyError):
        Signer(bad)


def test_signer_repr_hides_the_key() -> None:
    key = crypto.new_private_key()
    text = repr(Signer(key))
    assert key.hex() not in text and Signer(key).address in text


def test_sign_digest_refuses_non_32_byte_digest() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Signer.generate().sign_digest(b"\x00" * 31)


@pytest.fixture(scope="module")
def signed() -> tuple[Signer, bytes, bytes]:
    signer = Signer(crypto.new_private_key())
    digest = reading.reading_digest(sample_domain().separator, sample_reading())
    return signer, digest, signer.sign_digest(digest)


def test_recover_refuses_64_byte_signature(signed: tuple[Signer, bytes, bytes]) -> None:
    _, digest, sig = signed
    with pytest.raises(InvalidSignature, match="65 bytes"):
        crypto.recover_address(digest, sig[:64])


@pytest.mark.parametrize("v", [0, 1, 26, 29])
def test_recover_refuses_v_other_than_27_or_28(signed: tuple[Signer, bytes, bytes], v: int) -> None:
    _, digest, sig = signed
    with pytest.raises(InvalidSignature, match="v must be 27 or 28"):
        crypto.recover_address(digest, sig[:64] + bytes([v]))


def test_recover_refuses_high_s_variant(signed: tuple[Signer, bytes, bytes]) -> None:
    signer, digest, sig = signed
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    # the variant is a mathematically valid signature of the same key (what makes it malleable) …
    assert Account._recover_hash(digest, signature=high) == signer.address
    # … and is refused, as OpenZeppelin ECDSA.recover refuses it
    with pytest.raises(InvalidSignature, match="upper half"):
        crypto.recover_address(digest, high)


@pytest.mark.parametrize("r_value", [0, SECP256K1_N])
def test_recover_refuses_r_zero_or_not_below_n(
    signed: tuple[Signer, bytes, bytes], r_value: int
) -> None:
    _, digest, sig = signed
    with pytest.raises(InvalidSignature):
        crypto.recover_address(digest, r_value.to_bytes(32, "big") + sig[32:])


def test_recover_flipped_bit_gives_a_different_address(signed: tuple[Signer, bytes, bytes]) -> None:
    signer, digest, sig = signed
    assert crypto.recover_address(digest, sig) == signer.address
    flipped_digest = bytes([digest[0] ^ 0x01]) + digest[1:]
    assert crypto.recover_address(flipped_digest, sig) != signer.address
    flipped_s = sig[:63] + bytes([sig[63] ^ 0x01]) + sig[64:]  # s stays low and non-zero
    assert crypto.recover_address(digest, flipped_s) != signer.address
    flipped_v = sig[:64] + bytes([55 - sig[64]])
    assert crypto.recover_address(digest, flipped_v) != signer.address


def test_recover_refuses_non_32_byte_digest(signed: tuple[Signer, bytes, bytes]) -> None:
    _, digest, sig = signed
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.recover_address_bytes(digest + b"\x00", sig)
