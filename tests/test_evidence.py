"""Encrypted evidence (issue 6): the envelope (seal / open / rewrap, tampering), readers' X25519
keys in ParticipantRegistry, EvidenceRegistry on the real Anvil node, and the API end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.auth import issue_key
from ledger.chain.client import Call, ContractRevert
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import Keystore, derive_encryption_key
from ledger.crypto.primitives import Signer, keccak256
from ledger.crypto.requests import sign_request
from ledger.identifiers import org_id
from ledger.records import evidence as evidence_records
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import ROOT, USCC, World, unavailable

ZERO32 = bytes(32)
EV = keccak256(b"declared evidence")
ELECTRICITY_SUPPLIED = 2
REPORT = keccak256(b"verification report")


def reader_keys(n: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """n fresh readers: (address → X25519 private, address → public)."""
    priv = {Account.create().address: ev.new_private_key() for _ in range(n)}
    return priv, {a: ev.public_key(k) for a, k in priv.items()}


# ============================================================== envelope (no chain)
@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=4096), n=st.integers(1, 4))
def test_every_reader_opens_what_was_sealed(plaintext: bytes, n: int) -> None:
    priv, pub = reader_keys(n)
    env = ev.seal(plaintext, pub, {"record_id": 7})
    raw = env.to_bytes()
    assert plaintext not in raw[8:] or len(plaintext) < 8      # not stored in clear
    for a, k in priv.items():
        assert ev.open_envelope(raw, a, k) == plaintext
    parsed = ev.Envelope.from_bytes(raw)
    assert parsed.ciphertext_sha256 == hashlib.sha256(parsed.ciphertext).digest()
    assert sorted(parsed.readers) == sorted(pub)
    assert len(parsed.ciphertext) == ev.SALT_BYTES + len(plaintext) + ev.TAG_BYTES


def test_the_salted_hash_commits_to_the_plaintext_but_is_random() -> None:
    _, pub = reader_keys(1)
    a, b = ev.seal(b"same file", pub), ev.seal(b"same file", pub)
    assert a.salted_plaintext_sha256 != b.salted_plaintext_sha256       # random salt per file
    assert a.salted_plaintext_sha256 != hashlib.sha256(b"same file").digest()
    assert a.ciphertext_sha256 != b.ciphertext_sha256                   # random data key and nonce


def test_a_non_reader_cannot_open_and_a_wrong_key_is_detected() -> None:
    priv, pub = reader_keys(2)
    env = ev.seal(b"invoice", pub)
    outsider = Account.create().address
    with pytest.raises(ev.NotAReader):
        ev.open_envelope(env, outsider, ev.new_private_key())
    a = next(iter(priv))
    with pytest.raises(ev.TamperedEnvelope, match="does not authenticate"):
        ev.open_envelope(env, a, ev.new_private_key())                          # right address, wrong key


def flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]


def test_tampered_ciphertext_is_detected() -> None:
    priv, pub = reader_keys(1)
    (a, k), = priv.items()
    env = ev.seal(b"lab result: NCV 20.908 GJ/t", pub)
    raw = env.to_bytes()
    with pytest.raises(ev.TamperedEnvelope, match="ciphertext"):
        ev.open_envelope(flip(raw, len(raw) - 20), a, k)
    # a forger who also rewrites the header's hash is caught by the GCM tag
    bad_ct = flip(env.ciphertext, 3)
    forged = ev.Envelope({**env.header, "ciphertext_sha256": hashlib.sha256(bad_ct).hexdigest()}, bad_ct)
    with pytest.raises(ev.TamperedEnvelope, match="authentication failed"):
        ev.open_envelope(forged, a, k)
    # and the anchored hash catches a consistent substitute of the whole file
    other = ev.seal(b"another file", pub)
    with pytest.raises(ev.TamperedEnvelope, match="anchored"):
        ev.open_envelope(other, a, k, expected_ciphertext_sha256=env.ciphertext_sha256)


@pytest.mark.parametrize("field,value,error", [
    ("context", {"record_id": 8}, ev.TamperedEnvelope),
    ("nonce", "00" * 12, ev.TamperedEnvelope),
    ("salted_plaintext_sha256", "11" * 32, ev.TamperedEnvelope),
    ("v", 2, ev.MalformedEnvelope),
    ("alg", "AES-128-GCM", ev.MalformedEnvelope),
    ("recipients", "nobody", ev.MalformedEnvelope),
])
def test_tampered_header_is_detected(field: str, value: object, error: type[Exception]) -> None:
    priv, pub = reader_keys(1)
    (a, k), = priv.items()
    env = ev.seal(b"fuel purchase record", pub, {"record_id": 7})
    h = json.loads(json.dumps(env.header))
    h[field] = value
    forged = ev.Envelope(h, env.ciphertext)
    with pytest.raises(error):
        ev.open_envelope(ev.Envelope.from_bytes(forged.to_bytes()) if error is ev.TamperedEnvelope else forged, a, k)


def test_tampered_key_table_entry_is_detected() -> None:
    priv, pub = reader_keys(1)
    (a, k), = priv.items()
    env = ev.seal(b"production log", pub)
    for field in ("epk", "wrapped_key", "rpk", "nonce"):
        h = json.loads(json.dumps(env.header))
        h["recipients"][0][field] = flip(bytes.fromhex(h["recipients"][0][field]), 0).hex()
        with pytest.raises(ev.TamperedEnvelope):
            ev.open_envelope(ev.Envelope(h, env.ciphertext), a, k)


def test_malformed_files_are_refused_clearly() -> None:
    _, pub = reader_keys(1)
    raw = ev.seal(b"x", pub).to_bytes()
    with pytest.raises(ev.MalformedEnvelope, match="magic"):
        ev.Envelope.from_bytes(b"PDF-" + raw[4:])
    with pytest.raises(ev.MalformedEnvelope, match="header length"):
        ev.Envelope.from_bytes(raw[:4] + struct.pack(">I", len(raw)) + raw[8:])
    with pytest.raises(ev.MalformedEnvelope, match="JSON"):
        ev.Envelope.from_bytes(raw[:8] + b"{" * struct.unpack(">I", raw[4:8])[0] + raw[8 + struct.unpack(">I", raw[4:8])[0]:])
    with pytest.raises(ev.EvidenceError):
        ev.seal(b"x", {})
    with pytest.raises(ev.EvidenceError):
        ev.seal(b"x", {"not-an-address": bytes(32)})
    with pytest.raises(ev.EvidenceError, match="unusable"):
        ev.seal(b"x", {Account.create().address: bytes(32)})            # low-order point
    low_order = [bytes(32), bytes([1]) + bytes(31),
                 bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]   # RFC 7748 §6.1
    assert not any(ev.usable_public_key(k) for k in low_order)
    assert ev.usable_public_key(ev.public_key(ev.new_private_key())) and not ev.usable_public_key(b"short")


def test_rewrap_changes_only_the_key_table() -> None:
    priv, pub = reader_keys(3)
    enterprise, old_verifier, regulator = list(priv)
    env = ev.seal(b"invoice 2024-01", {enterprise: pub[enterprise], old_verifier: pub[old_verifier], regulator: pub[regulator]})
    new_verifier, new_key = Account.create().address, ev.new_private_key()
    readers = {enterprise: pub[enterprise], regulator: pub[regulator], new_verifier: ev.public_key(new_key)}
    new = ev.rewrap(env.to_bytes(), priv[enterprise], readers)
    assert new.ciphertext == env.ciphertext and new.ciphertext_sha256 == env.ciphertext_sha256
    assert new.salted_plaintext_sha256 == env.salted_plaintext_sha256
    assert ev.open_envelope(new, new_verifier, new_key) == b"invoice 2024-01"
    assert ev.open_envelope(new, regulator, priv[regulator]) == b"invoice 2024-01"
    with pytest.raises(ev.NotAReader):
        ev.open_envelope(new, old_verifier, priv[old_verifier])                 # dropped from the new copy
    with pytest.raises(ev.NotAReader):
        ev.rewrap(env, new_key, readers)                                # a non-reader cannot re-wrap
    bad = ev.Envelope(env.header, flip(env.ciphertext, 0))
    with pytest.raises(ev.TamperedEnvelope):
        ev.rewrap(bad, priv[enterprise], readers)                       # never re-wraps a forgery


def python_with_cryptography() -> str | None:
    for exe in ("/usr/bin/python3", shutil.which("python3")):
        if exe and subprocess.run([exe, "-c", "import cryptography.hazmat.primitives.ciphers.aead"],
                                  capture_output=True).returncode == 0:
            return exe
    return None


def test_an_independent_cryptography_implementation_opens_the_envelope(tmp_path: Path) -> None:
    exe = python_with_cryptography()
    if exe is None:
        unavailable("no Python with PyCA `cryptography` on this machine (the interop check needs one)")
    priv, pub = reader_keys(2)
    env = ev.seal(b"carbon content 0.7221 tC/t\n" * 10, pub, {"record_id": 3, "kind": "lab-carbon-content"})
    path = tmp_path / "e.clev"
    path.write_bytes(ev.rewrap(env, next(iter(priv.values())), pub).to_bytes())
    for a, k in priv.items():
        out = subprocess.run([exe, str(ROOT / "tests" / "reference" / "evidence_open_cryptography.py"), str(path), a, k.hex()],
                             capture_output=True, check=True)
        assert out.stdout == b"carbon content 0.7221 tC/t\n" * 10


def test_encryption_keys_are_derived_from_signing_keys(tmp_path: Path) -> None:
    k1, k2 = bytes(range(32)), bytes(range(1, 33))
    assert derive_encryption_key(k1) == derive_encryption_key(k1) != derive_encryption_key(k2)
    assert derive_encryption_key(k1) != k1
    with pytest.raises(ValueError):
        derive_encryption_key(b"short")
    ks = Keystore(tmp_path / "ks", "pw", scrypt_n=2)
    ks.add("enterprise", k1)
    assert ks.encryption_key("enterprise") == derive_encryption_key(k1)


# ============================================================== contracts
def declare(w: World, month: int, who: str = "enterprise") -> int:
    res = w.tx(w.dep.emissions.functions.recordDeclared(ELECTRICITY_SUPPLIED, ZERO32, 2007, month, 1_000_000, 0, EV, 0), who)
    return int(w.dep.emissions.decode_events(res, "ActivityRecorded")[0].recordId)


def refused(w: World, fn: object, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as e:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert e.value.error == error, e.value
    return e.value


def register_keys(w: World, *names: str) -> dict[str, bytes]:
    """Register the derived X25519 key of each participant; name → private key."""
    keys = {n: derive_encryption_key(w.keys[n]) for n in names}
    w.client.send([Call.of(w.dep.participants.functions.setEncryptionKey(ev.public_key(k)), w.acct[n]) for n, k in keys.items()])
    return keys


def test_participants_register_encryption_keys(chain: World) -> None:
    w, pr = chain, chain.dep.participants.functions
    keys = register_keys(w, "enterprise", "verifier")
    assert evidence_records.encryption_key_of(w.dep, w.acct["enterprise"]) == ev.public_key(keys["enterprise"])
    assert evidence_records.encryption_key_of(w.dep, w.acct["regulator"]) is None
    new = ev.public_key(ev.new_private_key())
    res = w.tx(pr.setEncryptionKey(new), "verifier")
    (e,) = w.dep.participants.decode_events(res, "EncryptionKeySet")
    assert (e.account, e.orgId, e.x25519PublicKey) == (w.acct["verifier"], org_id(USCC["verifier"]), new)
    assert evidence_records.encryption_key_of(w.dep, w.acct["verifier"]) == new                 # replaced
    refused(w, pr.setEncryptionKey(new), "outsider", "NotAdmitted")
    refused(w, pr.setEncryptionKey(new), "device", "NotAdmitted")
    refused(w, pr.setEncryptionKey(ZERO32), "enterprise", "InvalidEncryptionKey")
    w.tx(pr.suspend(org_id(USCC["enterprise2"]), keccak256(b"decision")), "regulator")
    refused(w, pr.setEncryptionKey(new), "enterprise2", "NotAdmitted")


def test_evidence_registry_anchors_hashes_for_the_records_enterprise(chain: World) -> None:
    w, f = chain, chain.dep.evidence.functions
    rid = declare(w, 1)
    ct, salted = keccak256(b"ct"), keccak256(b"salted")
    res = w.tx(f.attach(rid, ct, salted, "invoice"), "enterprise")
    (e,) = w.dep.evidence.decode_events(res, "EvidenceAttached")
    assert (e.recordId, e.index, e.ciphertextSha256, e.saltedPlaintextSha256, e.kind, e.by) == \
        (rid, 0, ct, salted, "invoice", w.acct["enterprise"])
    w.tx(f.attach(rid, keccak256(b"ct2"), salted, "lab-ncv"), "enterprise")
    assert w.call(f.evidenceCount(rid)) == 2 and w.call(f.evidenceCount(rid + 1)) == 0
    got = w.call(f.evidenceAt(rid, 1))
    assert (got.ciphertextSha256, got.saltedPlaintextSha256, got.by, got.kind) == (keccak256(b"ct2"), salted, w.acct["enterprise"], "lab-ncv")
    assert got.attachedAt == w.client.w3.eth.get_block("latest")["timestamp"]
    loc = w.call(f.locate(ct))
    assert (loc.recordId, loc.index) == (rid, 0)
    with pytest.raises(ContractRevert) as x:
        w.call(f.evidenceAt(rid, 2))
    assert x.value.error == "EvidenceIndexOutOfRange"
    with pytest.raises(ContractRevert) as x:
        w.call(f.locate(keccak256(b"nothing")))
    assert x.value.error == "UnknownEvidence"


def test_evidence_registry_refuses_outsiders_and_bad_input(chain: World) -> None:
    w, f = chain, chain.dep.evidence.functions
    rid = declare(w, 1)
    other = declare(w, 1, "enterprise2")
    ct, salted = keccak256(b"ct"), keccak256(b"salted")
    for who in ("outsider", "regulator", "verifier", "oracle-1"):
        refused(w, f.attach(rid, ct, salted, "invoice"), who, "NotRecordEnterprise")
    refused(w, f.attach(other, ct, salted, "invoice"), "enterprise", "NotRecordEnterprise")   # another enterprise's record
    refused(w, f.attach(0, ct, salted, "invoice"), "enterprise", "UnknownRecord")
    refused(w, f.attach(other + 1, ct, salted, "invoice"), "enterprise", "UnknownRecord")
    refused(w, f.attach(rid, ZERO32, salted, "invoice"), "enterprise", "ZeroHash")
    refused(w, f.attach(rid, ct, ZERO32, "invoice"), "enterprise", "ZeroHash")
    refused(w, f.attach(rid, ct, salted, ""), "enterprise", "InvalidKind")
    refused(w, f.attach(rid, ct, salted, "k" * 33), "enterprise", "InvalidKind")
    w.tx(f.attach(rid, ct, salted, "k" * 32), "enterprise")
    refused(w, f.attach(rid, ct, salted, "invoice"), "enterprise", "EvidenceExists")
    refused(w, f.attach(other, ct, salted, "invoice"), "enterprise2", "EvidenceExists")   # unique across records
    # suspended enterprise: refused
    w.tx(w.dep.participants.functions.suspend(org_id(USCC["enterprise2"]), keccak256(b"d")), "regulator")
    refused(w, f.attach(other, keccak256(b"x"), salted, "invoice"), "enterprise2", "NotRecordEnterprise")


def to_confirmed(w: World, rid: int) -> None:
    e = w.dep.emissions.functions
    w.tx(e.submit(rid), "enterprise")
    w.tx(e.assignVerifier(rid, w.acct["verifier"]), "regulator")
    w.tx(e.attest(rid, REPORT, ZERO32), "verifier")
    w.tx(e.confirm(rid), "regulator")


def test_evidence_can_be_attached_until_the_record_is_confirmed(chain: World) -> None:
    w, f = chain, chain.dep.evidence.functions
    rid = declare(w, 2)
    e = w.dep.emissions.functions
    w.tx(e.submit(rid), "enterprise")
    w.tx(f.attach(rid, keccak256(b"a"), keccak256(b"s"), "invoice"), "enterprise")          # Submitted
    w.tx(e.assignVerifier(rid, w.acct["verifier"]), "regulator")
    w.tx(e.attest(rid, REPORT, ZERO32), "verifier")
    w.tx(f.attach(rid, keccak256(b"b"), keccak256(b"s"), "invoice"), "enterprise")          # Verified
    w.tx(e.confirm(rid), "regulator")
    refused(w, f.attach(rid, keccak256(b"c"), keccak256(b"s"), "invoice"), "enterprise", "RecordConfirmed")
    assert w.call(f.evidenceCount(rid)) == 2


def test_record_readers_come_from_the_chain(chain: World) -> None:
    w = chain
    rid = declare(w, 3)
    with pytest.raises(ev.MissingEncryptionKey):
        evidence_records.record_readers(w.dep, rid)                                   # nobody has a key yet
    register_keys(w, "enterprise", "regulator")
    assert evidence_records.record_readers(w.dep, rid) == {w.acct[n]: ev.public_key(derive_encryption_key(w.keys[n])) for n in ("enterprise", "regulator")}
    w.tx(w.dep.emissions.functions.submit(rid), "enterprise")
    w.tx(w.dep.emissions.functions.assignVerifier(rid, w.acct["verifier"]), "regulator")
    with pytest.raises(ev.MissingEncryptionKey) as x:
        evidence_records.record_readers(w.dep, rid)                                   # the assigned verifier has none
    assert x.value.account == w.acct["verifier"]
    w.tx(w.dep.participants.functions.setEncryptionKey(bytes([1]) + bytes(31)), "verifier")   # a low-order point
    with pytest.raises(ev.MissingEncryptionKey, match="usable"):
        evidence_records.record_readers(w.dep, rid)
    register_keys(w, "verifier")
    assert set(evidence_records.record_readers(w.dep, rid)) == {w.acct["enterprise"], w.acct["regulator"], w.acct["verifier"]}


# ============================================================== API
@pytest.fixture()
def env(chain: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CARBONLEDGER_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.delenv("CARBONLEDGER_EVIDENCE_MAX_BYTES", raising=False)
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(chain.dep, store, None, custodial=[chain.acct["regulator"], chain.acct["enterprise"], chain.acct["verifier2"]])
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), role) for n, role in
            [("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"), ("regulator", "REGULATOR_ROLE"),
             ("verifier", "VERIFIER_ROLE"), ("verifier2", "VERIFIER_ROLE")]}
    return chain, TestClient(app), keys, tmp_path / "evidence"


def files(folder: Path) -> list[Path]:
    """Files in the evidence directory (created on first upload)."""
    return sorted(folder.iterdir()) if folder.exists() else []


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"/v1/problems/{slug}", r.json()
    return r.json()


def upload(http: TestClient, key: str, rid: int, data: bytes, kind: str = "invoice", name: str = "invoice.pdf"):
    return http.post(f"/v1/enterprise/records/{rid}/evidence", headers=bearer(key),
                     files={"file": (name, data, "application/pdf")}, data={"kind": kind})


def api_register_keys(http: TestClient, keys: dict[str, str], *names: str) -> None:
    for n in names:
        r = http.post("/v1/evidence/encryption-key", headers=bearer(keys[n]), json={})
        assert r.status_code == 200, r.text


def test_api_evidence_end_to_end(env) -> None:
    w, http, keys, folder = env
    api_register_keys(http, keys, "enterprise", "regulator")            # custodial: derived by the API
    own = {n: derive_encryption_key(w.keys[n]) for n in ("enterprise", "regulator", "verifier")}
    assert evidence_records.encryption_key_of(w.dep, w.acct["enterprise"]) == ev.public_key(own["enterprise"])
    register_keys(w, "verifier")                                        # non-custodial: its own transaction
    rid = declare(w, 4)
    pdf = b"%PDF-1.7 fuel purchase 1234 t coal\n" * 100

    r = upload(http, keys["enterprise"], rid, pdf, "fuel-purchase", "../../etc/purchase.pdf")
    assert r.status_code == 201, r.text
    meta = r.json()
    assert (meta["record_id"], meta["index"], meta["kind"], meta["filename"], meta["plaintext_bytes"]) == \
        (rid, 0, "fuel-purchase", "purchase.pdf", len(pdf))
    assert set(meta["readers"]) == {w.acct["enterprise"], w.acct["regulator"]}
    onchain = evidence_records.onchain_evidence(w.dep, rid)
    assert [(o["ciphertext_sha256"], o["salted_plaintext_sha256"], o["by"]) for o in onchain] == \
        [(meta["ciphertext_sha256"], meta["salted_plaintext_sha256"], w.acct["enterprise"])]
    stored = list(folder.iterdir())
    assert [p.name for p in stored] == [meta["ciphertext_sha256"][2:] + ".clev"] and pdf not in stored[0].read_bytes()

    # each reader downloads the envelope and opens it with its own key, checked against the chain
    for n in ("enterprise", "regulator"):
        d = http.get(f"/v1/evidence/{meta['id']}", headers=bearer(keys[n]))
        assert d.status_code == 200 and d.headers["x-cl-ciphertext-sha256"] == meta["ciphertext_sha256"]
        assert ev.open_envelope(d.content, w.acct[n], own[n], expected_ciphertext_sha256=bytes.fromhex(onchain[0]["ciphertext_sha256"][2:]),
                       expected_salted_plaintext_sha256=bytes.fromhex(onchain[0]["salted_plaintext_sha256"][2:])) == pdf
    c = http.get(f"/v1/evidence/{meta['id']}/content", headers=bearer(keys["enterprise"]))
    assert c.status_code == 200 and c.content == pdf and 'filename="purchase.pdf"' in c.headers["content-disposition"]
    assert c.headers["x-cl-media-type"] == "application/pdf"
    lst = http.get(f"/v1/evidence?record_id={rid}", headers=bearer(keys["regulator"])).json()
    assert [i["id"] for i in lst["items"]] == [meta["id"]] and lst["next_cursor"] is None

    # anyone checks the hash, no credentials
    h = http.get(f"/v1/public/evidence/{meta['id']}/hash")
    assert h.status_code == 200, h.text
    assert h.json()["ciphertext_sha256"] == meta["ciphertext_sha256"] and h.json()["stored_matches_chain"] is True
    assert hashlib.sha256(ev.Envelope.from_bytes(stored[0].read_bytes()).ciphertext).hexdigest() == meta["ciphertext_sha256"][2:]

    # not yet assigned: the verifier does not see it
    problem(http.get(f"/v1/evidence/{meta['id']}", headers=bearer(keys["verifier"])), 404, "not-found")

    # assignment, then re-wrap for the new verifier without re-upload
    assert http.post(f"/v1/enterprise/records/{rid}/submit", headers=bearer(keys["enterprise"])).status_code == 200
    assert http.post(f"/v1/regulator/records/{rid}/verifier", headers=bearer(keys["regulator"]),
                     json={"verifier": w.acct["verifier"]}).status_code == 200
    before = http.get(f"/v1/evidence/{meta['id']}", headers=bearer(keys["verifier"]))
    assert before.status_code == 200
    with pytest.raises(ev.NotAReader):
        ev.open_envelope(before.content, w.acct["verifier"], own["verifier"])
    rw = http.post(f"/v1/regulator/records/{rid}/evidence/rewrap", headers=bearer(keys["regulator"]))
    assert rw.status_code == 200, rw.text
    assert rw.json()["holders"] == [w.acct["regulator"]]
    assert set(rw.json()["items"][0]["readers"]) == {w.acct["enterprise"], w.acct["regulator"], w.acct["verifier"]}
    after = http.get(f"/v1/evidence/{meta['id']}", headers=bearer(keys["verifier"]))
    assert ev.open_envelope(after.content, w.acct["verifier"], own["verifier"]) == pdf
    assert ev.Envelope.from_bytes(after.content).ciphertext == ev.Envelope.from_bytes(before.content).ciphertext
    assert evidence_records.onchain_evidence(w.dep, rid) == onchain                  # on-chain hashes unchanged, nothing re-anchored
    assert w.call(w.dep.evidence.functions.evidenceCount(rid)) == 1

    # a second file after assignment is sealed for the verifier at once
    r2 = upload(http, keys["enterprise"], rid, b"lab NCV 20.908 GJ/t", "lab-ncv", "低位发热量化验单.txt")
    assert r2.status_code == 201 and w.acct["verifier"] in r2.json()["readers"] and r2.json()["index"] == 1
    assert r2.json()["filename"] == "低位发热量化验单.txt"
    c2 = http.get(f"/v1/evidence/{r2.json()['id']}/content", headers=bearer(keys["regulator"]))
    assert c2.status_code == 200 and "filename*=UTF-8''%E4%BD%8E" in c2.headers["content-disposition"]
    v = http.get(f"/v1/evidence/{r2.json()['id']}", headers=bearer(keys["verifier"]))
    assert ev.open_envelope(v.content, w.acct["verifier"], own["verifier"]) == b"lab NCV 20.908 GJ/t"


def test_api_refuses_a_file_over_the_size_limit(env, monkeypatch: pytest.MonkeyPatch) -> None:
    w, http, keys, folder = env
    api_register_keys(http, keys, "enterprise", "regulator")
    rid = declare(w, 5)
    monkeypatch.setenv("CARBONLEDGER_EVIDENCE_MAX_BYTES", "1000")
    body = problem(upload(http, keys["enterprise"], rid, b"x" * 1001), 413, "evidence-too-large")
    assert body["max_bytes"] == 1000
    big = problem(upload(http, keys["enterprise"], rid, b"x" * 200_000), 413, "evidence-too-large")   # refused before reading
    assert "request body" in big["detail"]
    assert w.call(w.dep.evidence.functions.evidenceCount(rid)) == 0 and not files(folder)
    # a chunked body (no Content-Length) is cut off once it passes the limit
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ninvoice\r\n--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n").encode()
    chunks = [head] + [b"x" * 10_000] * 10 + [f"\r\n--{boundary}--\r\n".encode()]
    chunked = http.post(f"/v1/enterprise/records/{rid}/evidence", content=iter(chunks),
                        headers={**bearer(keys["enterprise"]), "content-type": f"multipart/form-data; boundary={boundary}"})
    problem(chunked, 413, "evidence-too-large")
    assert w.call(w.dep.evidence.functions.evidenceCount(rid)) == 0 and not files(folder)
    assert upload(http, keys["enterprise"], rid, b"x" * 1000).status_code == 201                # exactly the limit


def test_api_refuses_outsiders(env) -> None:
    w, http, keys, folder = env
    api_register_keys(http, keys, "enterprise", "regulator")
    rid = declare(w, 6)
    meta = upload(http, keys["enterprise"], rid, b"invoice").json()
    problem(http.post(f"/v1/enterprise/records/{rid}/evidence", files={"file": ("a", b"a")}, data={"kind": "invoice"}), 401, "unauthenticated")
    problem(upload(http, keys["regulator"], rid, b"a"), 403, "wrong-role")
    problem(upload(http, keys["verifier"], rid, b"a"), 403, "wrong-role")
    problem(upload(http, keys["enterprise2"], rid, b"a"), 404, "not-found")                      # another enterprise's record
    path = f"/v1/evidence/{meta['id']}"
    hdr = sign_request(Signer(w.keys["outsider"]), w.client.chain_id, "GET", path, b"")
    problem(http.get(path, headers=hdr), 403, "participant-not-active")
    problem(http.get(path), 401, "unauthenticated")
    problem(http.get(path, headers=bearer(keys["enterprise2"])), 404, "not-found")
    problem(http.get(path, headers=bearer(keys["verifier2"])), 404, "not-found")                 # not assigned
    problem(http.get(path + "/content", headers=bearer(keys["enterprise2"])), 404, "not-found")
    problem(http.get(f"/v1/evidence?record_id={rid}", headers=bearer(keys["enterprise2"])), 404, "not-found")
    problem(http.post(f"/v1/regulator/records/{rid}/evidence/rewrap", headers=bearer(keys["enterprise"])), 403, "wrong-role")
    problem(http.post("/v1/evidence/encryption-key", json={}), 401, "unauthenticated")
    problem(http.post("/v1/evidence/encryption-key", headers=bearer(keys["verifier"]), json={}), 409, "no-custodial-key")
    assert w.call(w.dep.evidence.functions.evidenceCount(rid)) == 1 and len(files(folder)) == 1


def test_api_bad_input(env) -> None:
    w, http, keys, folder = env
    rid = declare(w, 7)
    problem(upload(http, keys["enterprise"], rid, b"a"), 409, "no-encryption-key")               # nobody registered a key
    api_register_keys(http, keys, "enterprise", "regulator")
    problem(upload(http, keys["enterprise"], rid, b"a", kind="Invoice!"), 422, "validation-error")
    problem(upload(http, keys["enterprise"], rid, b"a", kind="k" * 33), 422, "validation-error")
    problem(http.post(f"/v1/enterprise/records/{rid}/evidence", headers=bearer(keys["enterprise"]), data={"kind": "invoice"}),
            422, "validation-error")
    problem(upload(http, keys["enterprise"], 999, b"a"), 404, "not-found")
    problem(upload(http, keys["enterprise"], 0, b"a"), 422, "validation-error")
    problem(http.get("/v1/evidence/999", headers=bearer(keys["regulator"])), 404, "not-found")
    problem(http.get("/v1/public/evidence/999/hash"), 404, "not-found")
    problem(http.get(f"/v1/public/evidence/{2**63}/hash"), 422, "validation-error")            # beyond the store's ids
    problem(http.post("/v1/evidence/encryption-key", headers=bearer(keys["enterprise"]), json={"public_key": "0x" + "00" * 32}),
            409, "contract-refused")
    problem(http.post("/v1/evidence/encryption-key", headers=bearer(keys["enterprise"]), json={"public_key": "0x12"}),
            422, "validation-error")
    problem(http.post("/v1/evidence/encryption-key", headers=bearer(keys["enterprise"]), json={"public_key": "0x01" + "00" * 31}),
            422, "validation-error")                                                        # low-order point
    # the assigned verifier has no key: the upload is refused rather than sealed without it
    w.tx(w.dep.emissions.functions.submit(rid), "enterprise")
    w.tx(w.dep.emissions.functions.assignVerifier(rid, w.acct["verifier2"]), "regulator")
    body = problem(upload(http, keys["enterprise"], rid, b"a"), 409, "no-encryption-key")
    assert body["account"] == w.acct["verifier2"]
    # confirmed: the contract refuses in pre-flight, and no file is left behind
    api_register_keys(http, keys, "verifier2")
    w.tx(w.dep.emissions.functions.attest(rid, REPORT, ZERO32), "verifier2")
    w.tx(w.dep.emissions.functions.confirm(rid), "regulator")
    assert problem(upload(http, keys["enterprise"], rid, b"a"), 409, "contract-refused")["error"] == "RecordConfirmed"
    assert not files(folder)


def test_api_detects_a_tampered_stored_file(env) -> None:
    w, http, keys, folder = env
    api_register_keys(http, keys, "enterprise", "regulator")
    rid = declare(w, 8)
    meta = upload(http, keys["enterprise"], rid, b"production log").json()
    (path,) = folder.iterdir()
    path.write_bytes(flip(path.read_bytes(), len(path.read_bytes()) - 1))
    problem(http.get(f"/v1/evidence/{meta['id']}/content", headers=bearer(keys["enterprise"])), 409, "evidence-tampered")
    h = http.get(f"/v1/public/evidence/{meta['id']}/hash").json()
    assert h["stored_matches_chain"] is False and h["ciphertext_sha256"] == meta["ciphertext_sha256"]
    problem(http.post(f"/v1/regulator/records/{rid}/evidence/rewrap", headers=bearer(keys["regulator"])), 409, "evidence-tampered")
    path.write_bytes(b"garbage")
    problem(http.get(f"/v1/evidence/{meta['id']}", headers=bearer(keys["regulator"])), 409, "evidence-tampered")


def test_problem_types_are_documented(env) -> None:
    _, http, _, _ = env
    for slug in ("evidence-too-large", "no-encryption-key", "not-a-reader", "evidence-tampered"):
        assert http.get(f"/v1/problems/{slug}").json()["type"] == f"/v1/problems/{slug}"
