"""Encrypted keystores: round trip, wrong passphrase, passphrase file permissions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import eth_keyfile.keyfile as kf
import pytest
from eth_account import Account

from ledger.crypto.keystore import Keystore, KeystoreError, passphrase_from_environment, web3_secret_storage
from ledger.crypto.primitives import new_private_key

CHEAP = 2**10


def test_keys_round_trip_and_are_stored_encrypted(tmp_path: Path) -> None:
    ks = Keystore(tmp_path, "correct horse", CHEAP)
    key = new_private_key()
    addr = ks.add("enterprise", key)
    assert Keystore(tmp_path, "correct horse").unlock("enterprise") == key
    assert key.hex() not in (tmp_path / f"{addr}.json").read_text()
    assert oct((tmp_path / f"{addr}.json").stat().st_mode & 0o777) == "0o600"


def test_unlock_refuses_a_wrong_passphrase(tmp_path: Path) -> None:
    Keystore(tmp_path, "right", CHEAP).add("regulator", new_private_key())
    with pytest.raises(KeystoreError, match="cannot unlock 'regulator'"):
        Keystore(tmp_path, "wrong").unlock("regulator")


def test_add_refuses_a_label_held_by_another_key(tmp_path: Path) -> None:
    ks = Keystore(tmp_path, "p", CHEAP)
    ks.add("verifier", new_private_key())
    with pytest.raises(KeystoreError, match="already holds"):
        ks.add("verifier", new_private_key())


def test_passphrase_file_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONLEDGER_KEYSTORE_PASSPHRASE", raising=False)
    f = tmp_path / "pass"
    f.write_text("secret\n")
    os.chmod(f, 0o644)
    monkeypatch.setenv("CARBONLEDGER_KEYSTORE_PASSPHRASE_FILE", str(f))
    with pytest.raises(KeystoreError, match="must be 0600"):
        passphrase_from_environment()
    os.chmod(f, 0o600)
    assert passphrase_from_environment() == "secret"


def test_a_default_passphrase_file_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONLEDGER_KEYSTORE_PASSPHRASE", raising=False)
    monkeypatch.delenv("CARBONLEDGER_KEYSTORE_PASSPHRASE_FILE", raising=False)
    p = passphrase_from_environment(tmp_path / "ks.pass")
    assert len(p) >= 32 and (tmp_path / "ks.pass").stat().st_mode & 0o077 == 0
    assert passphrase_from_environment(tmp_path / "ks.pass") == p


def test_key_files_hold_a_16_byte_iv_even_when_it_starts_with_zero_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """eth-keyfile writes the IV without its leading zero bytes (geth then panics "bad IV length"
    unlocking the sealer key): forced here by an IV drawn as 00 00 ab…, the file holds 32 hex digits
    and the key still decrypts, with eth-account as with the keystore."""
    monkeypatch.setattr(kf.Random, "get_random_bytes", lambda n: bytes(2) + b"\xab" * (n - 2) if n == 16 else os.urandom(n))
    ks = Keystore(tmp_path / "ks", "correct horse", CHEAP)
    key = new_private_key()
    address = ks.add("sealer", key)
    blob = json.loads((tmp_path / "ks" / f"{address}.json").read_text())
    assert blob["crypto"]["cipherparams"]["iv"] == "0000" + "ab" * 14
    assert ks.unlock("sealer") == key and Account.decrypt(blob, "correct horse") == key


def test_a_key_file_with_an_iv_longer_than_16_bytes_is_refused() -> None:
    with pytest.raises(KeystoreError, match="17 bytes"):
        web3_secret_storage({"crypto": {"cipherparams": {"iv": "ab" * 17}}})
