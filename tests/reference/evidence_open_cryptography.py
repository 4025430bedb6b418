"""Independent opener of a CarbonLedger evidence envelope (ledger/evidence.py format v1) written
with PyCA ``cryptography`` only (+ the standard library): proves the format is the documented
X25519 / HKDF-SHA256 / AES-256-GCM construction and not a pycryptodome artefact.

Usage: python3 evidence_open_cryptography.py ENVELOPE_FILE READER_ADDRESS X25519_PRIVATE_HEX
Writes the plaintext to stdout; exits 2 with a message on any check failure.
"""

import hashlib
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def main() -> None:
    data = open(sys.argv[1], "rb").read()
    reader, priv = sys.argv[2], bytes.fromhex(sys.argv[3])
    assert data[:4] == b"CLEV", "magic"
    (n,) = struct.unpack(">I", data[4:8])
    h = json.loads(data[8:8 + n])
    ct = data[8 + n:]
    if hashlib.sha256(ct).hexdigest() != h["ciphertext_sha256"]:
        sys.exit(2)
    core = {k: h[k] for k in ("v", "alg", "kem", "nonce")}
    core["context"] = h.get("context") or {}
    aad = json.dumps(core, sort_keys=True, separators=(",", ":")).encode()
    entry = next(r for r in h["recipients"] if r["reader"].lower() == reader.lower())
    addr = bytes.fromhex(entry["reader"][2:])
    epk, rpk = bytes.fromhex(entry["epk"]), bytes.fromhex(entry["rpk"])
    z = X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(epk))
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + rpk,
               info=b"CarbonLedger evidence key wrap v1" + addr).derive(z)
    dk = AESGCM(kek).decrypt(bytes.fromhex(entry["nonce"]), bytes.fromhex(entry["wrapped_key"]),
                             hashlib.sha256(aad).digest() + addr)
    payload = AESGCM(dk).decrypt(bytes.fromhex(h["nonce"]), ct, aad)
    if hashlib.sha256(payload).hexdigest() != h["salted_plaintext_sha256"]:
        sys.exit(2)
    sys.stdout.buffer.write(payload[32:])


if __name__ == "__main__":
    main()
