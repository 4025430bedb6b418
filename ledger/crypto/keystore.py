"""Encrypted keystores for the organisation keys the API signs with (custodial mode).

Each key is an Ethereum v3 keystore file (eth-account: scrypt KDF, AES-128-CTR), named by its
address in the keystore directory, with ``index.json`` mapping a label (e.g. ``enterprise``)
to the address. Keys are unlocked once at start-up with a passphrase from the environment
(``CARBONLEDGER_KEYSTORE_PASSPHRASE``) or from a file readable only by its owner
(``CARBONLEDGER_KEYSTORE_PASSPHRASE_FILE``, mode 0600), and kept in memory.

scrypt cost: n = 2^17 by default (≈0.25 s per key here); tests pass a cheap n.

Evidence encryption keys (issue 6): each account's X25519 private key is *derived* from its
signing key, ``HKDF-SHA256(ikm = secp256k1 private key, salt = "", info =
"CarbonLedger evidence X25519 v1", L = 32)`` (:func:`derive_encryption_key`), so the keystore
stores nothing more and whoever holds an account's key (the custodial API or the participant's
own wallet) can open the evidence wrapped to it. HKDF with its own ``info`` label separates the
two uses; knowing the X25519 key reveals nothing about the signing key. The public half is what
the account registers with ``ParticipantRegistry.setEncryptionKey``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account

DEFAULT_SCRYPT_N = 2**17
PASSPHRASE_ENV = "CARBONLEDGER_KEYSTORE_PASSPHRASE"
PASSPHRASE_FILE_ENV = "CARBONLEDGER_KEYSTORE_PASSPHRASE_FILE"
#: HKDF ``info`` of the X25519 evidence key derived from an account's signing key.
ENCRYPTION_KEY_INFO = b"CarbonLedger evidence X25519 v1"


def derive_encryption_key(signing_key: bytes) -> bytes:
    """The account's X25519 private key (32 raw bytes, RFC 7748; clamped when used) derived from
    its 32-byte secp256k1 signing key with HKDF-SHA256 (see the module docstring).

    Raises:
        ValueError: if ``signing_key`` is not 32 bytes.
    """
    if len(signing_key) != 32:
        raise ValueError(f"signing key must be 32 bytes, got {len(signing_key)}")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ENCRYPTION_KEY_INFO).derive(bytes(signing_key))


class KeystoreError(RuntimeError):
    """A keystore could not be read, unlocked or written (the message says why)."""


def passphrase_from_environment(default_file: Path | None = None) -> str:
    """The keystore passphrase: ``$CARBONLEDGER_KEYSTORE_PASSPHRASE``, else the file named by
    ``$CARBONLEDGER_KEYSTORE_PASSPHRASE_FILE`` (or ``default_file``), which must be mode 0600.

    With neither set and ``default_file`` absent, a random passphrase is created in
    ``default_file`` with mode 0600 (first start of a data directory).

    Raises:
        KeystoreError: if the passphrase file is readable by group or others, or nothing is set.
    """
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    path = Path(os.environ[PASSPHRASE_FILE_ENV]) if os.environ.get(PASSPHRASE_FILE_ENV) else default_file
    if path is None:
        raise KeystoreError(f"set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}")
    if not path.exists():
        if path != default_file:
            raise KeystoreError(f"passphrase file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeystoreError(f"passphrase file {path} has mode {mode:o}; it must be 0600 (chmod 600 {path})")
    return path.read_text().strip()


#: Bytes of the AES-128-CTR IV of a Web3 Secret Storage v3 file.
IV_BYTES = 16


def web3_secret_storage(blob: dict[str, Any]) -> dict[str, Any]:
    """The v3 key file ``blob`` as the Web3 Secret Storage Definition writes it: the AES-128-CTR IV as
    exactly 16 bytes (32 hex digits).

    eth-keyfile 0.8.1 (behind ``Account.encrypt``) draws the IV as an integer and writes it without its
    leading zero bytes, so one file in 256 holds a 15-byte IV; eth-keyfile reads it back as the same
    integer, but geth's keystore refuses it with ``panic: bad IV length`` while unlocking (a sealer
    node died of it at start-up, 2026-12-04). Left-padding with zeros restores the IV the ciphertext
    was made with (the counter is the 128-bit big-endian integer), so both readers decrypt it.

    Raises:
        KeystoreError: the IV is longer than 16 bytes (not a key file this class wrote).
    """
    params = blob["crypto"]["cipherparams"]
    if len(params["iv"]) > 2 * IV_BYTES:
        raise KeystoreError(f"key file IV of {len(params['iv']) // 2} bytes, expected {IV_BYTES}")
    params["iv"] = params["iv"].rjust(2 * IV_BYTES, "0")
    return blob


class Keystore:
    """A directory of encrypted keys with labels.

    Args:
        directory: where the keystore files and ``index.json`` live.
        passphrase: unlocks every key of this keystore.
        scrypt_n: scrypt cost for keys created from now on.
    """

    def __init__(self, directory: Path, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self.directory, self.passphrase, self.scrypt_n = directory, passphrase, scrypt_n
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    @property
    def _index_path(self) -> Path:
        return self.directory / "index.json"

    def labels(self) -> dict[str, str]:
        """label → address of every key."""
        return json.loads(self._index_path.read_text()) if self._index_path.exists() else {}

    def add(self, label: str, private_key: bytes) -> str:
        """Encrypt and store ``private_key`` under ``label``; returns its address.

        Raises:
            KeystoreError: if the label is already used by another key.
        """
        acct = Account.from_key(private_key)
        index = self.labels()
        if label in index and index[label] != acct.address:
            raise KeystoreError(f"label {label!r} already holds {index[label]}")
        blob = web3_secret_storage(Account.encrypt(private_key, self.passphrase, kdf="scrypt", iterations=self.scrypt_n))
        path = self.directory / f"{acct.address}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(blob, fh)
        index[label] = acct.address
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=2))
        tmp.replace(self._index_path)
        return acct.address

    def unlock(self, label: str) -> bytes:
        """Decrypt the key of ``label``.

        Raises:
            KeystoreError: unknown label or wrong passphrase.
        """
        index = self.labels()
        if label not in index:
            raise KeystoreError(f"no key labelled {label!r} in {self.directory}")
        blob = json.loads((self.directory / f"{index[label]}.json").read_text())
        try:
            return bytes(Account.decrypt(blob, self.passphrase))
        except ValueError as exc:
            raise KeystoreError(f"cannot unlock {label!r}: {exc}") from None

    def encryption_key(self, label: str) -> bytes:
        """The X25519 evidence key of ``label``'s account (:func:`derive_encryption_key`).

        Raises:
            KeystoreError: unknown label or wrong passphrase.
        """
        return derive_encryption_key(self.unlock(label))

    def unlock_all(self) -> dict[str, bytes]:
        """Decrypt every key: label → private key (kept in memory by the caller)."""
        return {label: self.unlock(label) for label in self.labels()}
