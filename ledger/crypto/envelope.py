"""Encrypted evidence (issue 6 "Evidence (加密上链)"): the envelope format, sealing for the record's
readers, opening, re-wrapping for a newly assigned verifier, and the on-chain side
(contracts/EvidenceRegistry.sol, ParticipantRegistry.setEncryptionKey).

Envelope (one file, version 1)::

    b"CLEV" | uint32 big-endian header length | header (UTF-8 JSON) | ciphertext

Header::

    {"v": 1, "alg": "AES-256-GCM", "kem": "X25519-HKDF-SHA256-A256GCM",
     "nonce": hex 12 B, "context": {...},                         ← authenticated (GCM AAD)
     "ciphertext_sha256": hex 32 B, "salted_plaintext_sha256": hex 32 B,
     "recipients": [{"reader": 0x address, "rpk": hex 32 B, "epk": hex 32 B,
                     "nonce": hex 12 B, "wrapped_key": hex 48 B}, ...]}

* Content: a random 256-bit data key DK and 96-bit nonce; ``ciphertext = AES-256-GCM(DK, nonce,
  salt ‖ plaintext, aad)`` (GCM tag appended) with a random 32-byte ``salt`` — so the salt sits
  inside the envelope, encrypted, and ``SHA-256(salt ‖ plaintext)`` reveals nothing guessable.
  ``aad`` is the canonical JSON (sorted keys, no spaces) of ``{v, alg, kem, nonce, context}``:
  changing any of them makes decryption fail. ``context`` binds the file to its place (chain id,
  EvidenceRegistry address, record id, kind) — the API fills it; :func:`seal` accepts any.
* Key table: per reader, an ephemeral X25519 key ``e``; ``z = X25519(e, reader public key)``;
  ``KEK = HKDF-SHA256(z, salt = epk ‖ rpk, info = "CarbonLedger evidence key wrap v1" ‖ reader
  address (20 B), 32 B)``; ``wrapped_key = AES-256-GCM(KEK, wrap nonce, DK, aad = SHA-256(aad) ‖
  reader address)``. The key table is *not* covered by the content AAD, so :func:`rewrap` can
  replace it without touching the ciphertext: SHA-256(ciphertext) — what the chain holds — stays.
* On-chain (EvidenceRegistry.attach): ``SHA-256(ciphertext)`` and ``SHA-256(salt ‖ plaintext)``.

Primitives: X25519 (RFC 7748), HKDF-SHA256 (RFC 5869), AES-256-GCM (NIST SP 800-38D) from the
``cryptography`` package (pyca).

Keys: raw 32-byte X25519 private and public keys. The custodial API derives each account's
private key from its signing key (:func:`ledger.crypto.keystore.derive_encryption_key`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_utils import is_address, to_canonical_address, to_checksum_address

MAGIC = b"CLEV"
VERSION = 1
ALG = "AES-256-GCM"
KEM = "X25519-HKDF-SHA256-A256GCM"
WRAP_INFO = b"CarbonLedger evidence key wrap v1"
SALT_BYTES, KEY_BYTES, NONCE_BYTES, TAG_BYTES = 32, 32, 12, 16
#: Largest header accepted when parsing (a key table of ~1000 readers); guards a forged length.
MAX_HEADER_BYTES = 1 << 20


class EvidenceError(ValueError):
    """Base of every evidence error."""


class MalformedEnvelope(EvidenceError):
    """The bytes are not a version-1 envelope (bad magic, length, JSON or field)."""


class TamperedEnvelope(EvidenceError):
    """The ciphertext or the header was changed: a hash does not match or authentication failed."""


class NotAReader(EvidenceError, LookupError):
    """The envelope has no data key wrapped to this reader (address / key)."""


class MissingEncryptionKey(EvidenceError, LookupError):
    """A reader the record needs has registered no X25519 public key on-chain (``account``)."""

    def __init__(self, account: str, why: str) -> None:
        self.account = account
        super().__init__(f"{account} ({why}) has registered no X25519 encryption key (ParticipantRegistry.setEncryptionKey)")


# --------------------------------------------------------------------------- keys
def new_private_key() -> bytes:
    """A random X25519 private key (32 bytes)."""
    return secrets.token_bytes(32)


def public_key(private: bytes) -> bytes:
    """The X25519 public key (32 bytes, RFC 7748 encoding) of a 32-byte private key.

    Raises:
        ValueError: if ``private`` is not 32 bytes.
    """
    if len(private) != 32:
        raise ValueError(f"X25519 private key must be 32 bytes, got {len(private)}")
    return X25519PrivateKey.from_private_bytes(bytes(private)).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _shared_secret(private: bytes, peer_public: bytes) -> bytes:
    try:
        z = X25519PrivateKey.from_private_bytes(bytes(private)).exchange(X25519PublicKey.from_public_bytes(bytes(peer_public)))
    except ValueError as exc:   # low-order / invalid point: an all-zero shared secret
        raise EvidenceError(f"unusable X25519 public key 0x{bytes(peer_public).hex()}: {exc}") from None
    return z


def usable_public_key(pub: bytes) -> bool:
    """Whether ``pub`` is 32 bytes and a key agreement with it gives a nonzero secret (not one of
    the low-order points RFC 7748 §6.1 warns about)."""
    if len(bytes(pub)) != 32:
        return False
    try:
        _shared_secret(new_private_key(), pub)
    except EvidenceError:
        return False
    return True


def _hkdf(z: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(z)


def _gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, aad)     # ciphertext ‖ 16-byte tag


def _gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Raises ValueError if authentication fails."""
    if len(data) < TAG_BYTES:
        raise ValueError("shorter than a GCM tag")
    try:
        return AESGCM(key).decrypt(nonce, data, aad)
    except InvalidTag:
        raise ValueError("GCM authentication failed") from None


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (32 bytes)."""
    return hashlib.sha256(data).digest()


# --------------------------------------------------------------------------- envelope
@dataclass(frozen=True)
class Envelope:
    """A sealed evidence file: the JSON header and the ciphertext (GCM tag appended).

    ``ciphertext_sha256`` is computed from the ciphertext itself, ``salted_plaintext_sha256`` read
    from the header (checked by :func:`open_envelope` after decryption)."""

    header: dict[str, Any]
    ciphertext: bytes = field(repr=False)

    @property
    def ciphertext_sha256(self) -> bytes:
        """SHA-256 of the ciphertext bytes (the value EvidenceRegistry holds)."""
        return sha256(self.ciphertext)

    @property
    def salted_plaintext_sha256(self) -> bytes:
        """SHA-256(salt ‖ plaintext) as recorded in the header (32 bytes)."""
        return _hex(self.header, "salted_plaintext_sha256", 32)

    @property
    def context(self) -> dict[str, Any]:
        """The authenticated context (e.g. chain id, registry, record id, kind)."""
        return dict(self.header.get("context") or {})

    @property
    def readers(self) -> list[str]:
        """Checksummed addresses the data key is wrapped to."""
        return [r["reader"] for r in self.header["recipients"]]

    def to_bytes(self) -> bytes:
        """The file form: magic, header length, header JSON, ciphertext."""
        h = json.dumps(self.header, sort_keys=True, separators=(",", ":")).encode()
        return MAGIC + struct.pack(">I", len(h)) + h + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse the file form.

        Raises:
            MalformedEnvelope: bad magic, header length, JSON, version or field.
        """
        data = bytes(data)
        if len(data) < 8 or data[:4] != MAGIC:
            raise MalformedEnvelope("not a CarbonLedger evidence envelope (bad magic)")
        (n,) = struct.unpack(">I", data[4:8])
        if n > MAX_HEADER_BYTES or 8 + n > len(data):
            raise MalformedEnvelope(f"header length {n} does not fit the {len(data)}-byte file")
        try:
            header = json.loads(data[8:8 + n].decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedEnvelope(f"header is not JSON: {exc}") from None
        env = cls(header, data[8 + n:])
        _check_header(env.header)
        return env


def _hex(h: dict[str, Any], key: str, size: int) -> bytes:
    v = h.get(key)
    try:
        b = bytes.fromhex(v.removeprefix("0x")) if isinstance(v, str) else None
    except ValueError:
        b = None
    if b is None or len(b) != size:
        raise MalformedEnvelope(f"header field {key!r} must be {size} bytes of hex")
    return b


def _check_header(h: Any) -> None:
    if not isinstance(h, dict):
        raise MalformedEnvelope("header must be a JSON object")
    if h.get("v") != VERSION:
        raise MalformedEnvelope(f"unsupported envelope version {h.get('v')!r} (this code reads {VERSION})")
    if h.get("alg") != ALG or h.get("kem") != KEM:
        raise MalformedEnvelope(f"unsupported algorithms {h.get('alg')!r} / {h.get('kem')!r}")
    if not isinstance(h.get("context", {}), dict):
        raise MalformedEnvelope("header field 'context' must be an object")
    _hex(h, "nonce", NONCE_BYTES)
    _hex(h, "ciphertext_sha256", 32)
    _hex(h, "salted_plaintext_sha256", 32)
    rs = h.get("recipients")
    if not isinstance(rs, list):
        raise MalformedEnvelope("header field 'recipients' must be a list")
    for r in rs:
        if not isinstance(r, dict) or not isinstance(r.get("reader"), str) or not is_address(r["reader"]):
            raise MalformedEnvelope("each recipient needs a 'reader' address")
        for k, size in (("rpk", 32), ("epk", 32), ("nonce", NONCE_BYTES), ("wrapped_key", KEY_BYTES + TAG_BYTES)):
            _hex(r, k, size)


def _content_aad(h: dict[str, Any]) -> bytes:
    core = {k: h[k] for k in ("v", "alg", "kem", "nonce")}
    core["context"] = h.get("context") or {}
    return json.dumps(core, sort_keys=True, separators=(",", ":")).encode()


def _wrap_aad(content_aad: bytes, reader: str) -> bytes:
    return sha256(content_aad) + to_canonical_address(reader)


def _wrap(dk: bytes, content_aad: bytes, reader: str, reader_public: bytes) -> dict[str, str]:
    reader = to_checksum_address(reader)
    reader_public = bytes(reader_public)
    if len(reader_public) != 32:
        raise EvidenceError(f"X25519 public key of {reader} must be 32 bytes")
    e = new_private_key()
    epk = public_key(e)
    kek = _hkdf(_shared_secret(e, reader_public), epk + reader_public, WRAP_INFO + to_canonical_address(reader))
    nonce = secrets.token_bytes(NONCE_BYTES)
    return {"reader": reader, "rpk": reader_public.hex(), "epk": epk.hex(), "nonce": nonce.hex(),
            "wrapped_key": _gcm_encrypt(kek, nonce, dk, _wrap_aad(content_aad, reader)).hex()}


def _unwrap(entry: dict[str, Any], content_aad: bytes, private: bytes) -> bytes:
    reader = to_checksum_address(entry["reader"])
    epk, rpk = _hex(entry, "epk", 32), _hex(entry, "rpk", 32)
    kek = _hkdf(_shared_secret(private, epk), epk + rpk, WRAP_INFO + to_canonical_address(reader))
    try:
        return _gcm_decrypt(kek, _hex(entry, "nonce", NONCE_BYTES), _hex(entry, "wrapped_key", KEY_BYTES + TAG_BYTES),
                            _wrap_aad(content_aad, reader))
    except ValueError:
        raise TamperedEnvelope(f"the data key wrapped to {reader} does not authenticate: the header was changed "
                               "or this is not the reader's key") from None


def _key_table(dk: bytes, content_aad: bytes, readers: dict[str, bytes]) -> list[dict[str, str]]:
    if not readers:
        raise EvidenceError("an envelope needs at least one reader")
    table: dict[str, dict[str, str]] = {}
    for addr, pub in readers.items():
        if not is_address(addr):
            raise EvidenceError(f"reader {addr!r} is not an address")
        entry = _wrap(dk, content_aad, addr, pub)
        table[entry["reader"]] = entry
    return [table[a] for a in sorted(table)]


def seal(plaintext: bytes, readers: dict[str, bytes], context: dict[str, Any] | None = None) -> Envelope:
    """Encrypt ``plaintext`` for ``readers`` (address → 32-byte X25519 public key).

    Args:
        plaintext: the file, any bytes.
        readers: who may open it; each gets the data key wrapped to its public key.
        context: JSON-serialisable values bound to the ciphertext as GCM associated data.

    Returns:
        The envelope; its ``ciphertext_sha256`` and ``salted_plaintext_sha256`` go on-chain.

    Raises:
        EvidenceError: no readers, a bad address, or an unusable public key.
    """
    dk, nonce, salt = secrets.token_bytes(KEY_BYTES), secrets.token_bytes(NONCE_BYTES), secrets.token_bytes(SALT_BYTES)
    header: dict[str, Any] = {"v": VERSION, "alg": ALG, "kem": KEM, "nonce": nonce.hex(), "context": dict(context or {})}
    aad = _content_aad(header)
    header["recipients"] = _key_table(dk, aad, readers)
    ciphertext = _gcm_encrypt(dk, nonce, salt + bytes(plaintext), aad)
    header["ciphertext_sha256"] = sha256(ciphertext).hex()
    header["salted_plaintext_sha256"] = sha256(salt + bytes(plaintext)).hex()
    return Envelope(header, ciphertext)


def _data_key(envelope: Envelope, private: bytes, reader: str | None) -> tuple[bytes, bytes]:
    """(data key, content aad) for the holder of ``private`` (entry chosen by address, else by key)."""
    _check_header(envelope.header)
    aad = _content_aad(envelope.header)
    rs = envelope.header["recipients"]
    if reader is not None:
        if not is_address(reader):
            raise NotAReader(f"{reader!r} is not an address")
        entries = [r for r in rs if r["reader"].lower() == reader.lower()]
        who = to_checksum_address(reader)
    else:
        pub = public_key(private).hex()
        entries = [r for r in rs if r["rpk"].lower() == pub]
        who = f"the holder of X25519 key 0x{pub}"
    if not entries:
        raise NotAReader(f"the envelope holds no data key for {who}")
    return _unwrap(entries[0], aad, private), aad


def open_envelope(envelope: Envelope | bytes, reader: str, private: bytes, *,
                  expected_ciphertext_sha256: bytes | None = None,
                  expected_salted_plaintext_sha256: bytes | None = None) -> bytes:
    """Decrypt an envelope as ``reader`` (its address) with its X25519 private key.

    Checks, in order: the ciphertext's SHA-256 against the header (and against the on-chain value
    if given); the reader's wrapped key; the GCM tag over ciphertext and header; SHA-256(salt ‖
    plaintext) against the header (and the on-chain value if given).

    Returns:
        The plaintext.

    Raises:
        MalformedEnvelope: not an envelope. NotAReader: nothing wrapped to ``reader``.
        TamperedEnvelope: a hash mismatch or failed authentication (tampered ciphertext or
        header, or ``private`` is not the reader's key).
    """
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_bytes(envelope)
    _check_header(env.header)
    actual = env.ciphertext_sha256
    if actual != _hex(env.header, "ciphertext_sha256", 32):
        raise TamperedEnvelope(f"ciphertext SHA-256 0x{actual.hex()} differs from the header's: the ciphertext was changed")
    if expected_ciphertext_sha256 is not None and actual != bytes(expected_ciphertext_sha256):
        raise TamperedEnvelope(f"ciphertext SHA-256 0x{actual.hex()} differs from the anchored "
                               f"0x{bytes(expected_ciphertext_sha256).hex()}")
    dk, aad = _data_key(env, private, reader)
    try:
        payload = _gcm_decrypt(dk, _hex(env.header, "nonce", NONCE_BYTES), env.ciphertext, aad)
    except ValueError:
        raise TamperedEnvelope("AES-GCM authentication failed: the ciphertext or the authenticated header "
                               "(version, algorithms, nonce, context) was changed") from None
    if len(payload) < SALT_BYTES:
        raise TamperedEnvelope("payload shorter than its salt")
    salted = sha256(payload)
    if salted != env.salted_plaintext_sha256:
        raise TamperedEnvelope("SHA-256(salt ‖ plaintext) differs from the header's")
    if expected_salted_plaintext_sha256 is not None and salted != bytes(expected_salted_plaintext_sha256):
        raise TamperedEnvelope("SHA-256(salt ‖ plaintext) differs from the anchored value")
    return payload[SALT_BYTES:]


def rewrap(envelope: Envelope | bytes, holder_private: bytes, readers: dict[str, bytes]) -> Envelope:
    """A copy of ``envelope`` whose key table is exactly ``readers`` (address → X25519 public key),
    made by a current reader (``holder_private``) without re-encrypting: the ciphertext, and so
    SHA-256(ciphertext) on-chain, is unchanged. Readers left out lose their wrapped key in the
    new copy (who already downloaded the old one keeps it: revoke access in the API, not here).

    The ciphertext is authenticated with the unwrapped data key first, so a tampered envelope is
    never re-wrapped.

    Raises:
        MalformedEnvelope, NotAReader (the holder's key is not in the table), TamperedEnvelope,
        EvidenceError (no readers or an unusable key).
    """
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_bytes(envelope)
    dk, aad = _data_key(env, holder_private, None)
    if env.ciphertext_sha256 != _hex(env.header, "ciphertext_sha256", 32):
        raise TamperedEnvelope("ciphertext SHA-256 differs from the header's: refusing to re-wrap")
    try:
        _gcm_decrypt(dk, _hex(env.header, "nonce", NONCE_BYTES), env.ciphertext, aad)
    except ValueError:
        raise TamperedEnvelope("AES-GCM authentication failed: refusing to re-wrap a tampered envelope") from None
    header = dict(env.header)
    header["recipients"] = _key_table(dk, aad, readers)
    return Envelope(header, env.ciphertext)


