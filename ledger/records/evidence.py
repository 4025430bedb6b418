"""Evidence on the ledger: EvidenceRegistry (hashes of sealed envelopes, by record) and the readers'
X25519 keys registered in ParticipantRegistry. The envelope itself is :mod:`ledger.crypto.envelope`.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from ledger.chain.client import ChainClient, TxResult
from ledger.contracts._generated.evidence_registry import EvidenceAttached
from ledger.crypto.envelope import Envelope, MissingEncryptionKey, public_key, usable_public_key
from ledger.crypto.keystore import derive_encryption_key
from ledger.records import queries as records


def encryption_key_of(dep: Any, account: str) -> bytes | None:
    """The X25519 public key ``account`` registered in ParticipantRegistry, or None."""
    k = dep.participants.encryptionKeyOf(to_checksum_address(account))
    return None if k == bytes(32) else k


def register_encryption_key(dep: Any, account: str, private: bytes) -> TxResult:
    """Register the public half of ``private`` for ``account`` (its key must be in ``dep.client``).

    Raises:
        ContractRevert: NotAdmitted (account not in an Active organisation), InvalidEncryptionKey.
    """
    return dep.client.send([dep.participants.setEncryptionKey(public_key(private), sender=account,
                                                              label="setEncryptionKey")])[0]


def record_readers(dep: Any, record_id: int, record: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The readers of a record's evidence with their on-chain X25519 public keys: every current
    account of the record's enterprise and of the regulator organisation (the manifest's
    regulator's) that registered a usable key (:func:`usable_public_key`), and the assigned
    verifier if any.

    Raises:
        MissingEncryptionKey: the assigned verifier has no key, or no account of the enterprise
        (or of the regulator) has one.
    """
    r = record if record is not None else records.record(dep, record_id)
    pr = dep.participants
    readers: dict[str, bytes] = {}
    enterprise = bytes.fromhex(r["enterprise"].removeprefix("0x"))
    regulator_org = pr.orgOf(to_checksum_address(dep.manifest["regulator"]))
    for org, why in ((enterprise, "the record's enterprise"), (regulator_org, "the regulator")):
        accounts = list(pr.accountsOf(org))
        keyed = {a: k for a in accounts if (k := encryption_key_of(dep, a)) is not None and usable_public_key(k)}
        if not keyed:
            raise MissingEncryptionKey(accounts[0] if accounts else "0x" + org.hex(), f"no account of {why} with a usable key")
        readers.update(keyed)
    verifier = r.get("verifier")
    if verifier and int(verifier, 16) != 0:
        k = encryption_key_of(dep, verifier)
        if k is None or not usable_public_key(k):
            raise MissingEncryptionKey(to_checksum_address(verifier), "the assigned verifier, usable key")
        readers[to_checksum_address(verifier)] = k
    return readers


def record_context(dep: Any, record_id: int, kind: str) -> dict[str, Any]:
    """The authenticated context the API seals with: chain id, EvidenceRegistry address, record id, kind."""
    return {"chain_id": dep.client.chain_id, "registry": dep.evidence.address, "record_id": int(record_id), "kind": kind}


def attach(dep: Any, sender: str, record_id: int, envelope: Envelope, kind: str) -> tuple[int, TxResult]:
    """Anchor the envelope's two hashes for ``record_id`` from ``sender`` (an account of the
    record's enterprise); returns (index in the record's list, transaction).

    Raises:
        ContractRevert: UnknownRecord, NotRecordEnterprise, RecordConfirmed, ZeroHash, InvalidKind,
        EvidenceExists (pre-flight: nothing is spent on a refusal).
    """
    call = dep.evidence.attach(int(record_id), envelope.ciphertext_sha256, envelope.salted_plaintext_sha256, kind,
                               sender=sender, label=f"attach evidence to record {record_id}")
    res = dep.client.send([call])[0]
    (ev,) = dep.evidence.decode_events(res, EvidenceAttached)
    return ev.index, res


def onchain_evidence(dep: Any, record_id: int) -> list[dict[str, Any]]:
    """The record's anchored evidence: [{index, ciphertext_sha256, salted_plaintext_sha256 (0x hex),
    by, attached_at (UTC s), kind}]."""
    n = dep.evidence.evidenceCount(int(record_id))
    return [onchain_evidence_at(dep, record_id, i) for i in range(n)]


def onchain_evidence_at(dep: Any, record_id: int, index: int) -> dict[str, Any]:
    """One anchored evidence entry (fields as :func:`onchain_evidence`).

    Raises:
        ContractRevert: EvidenceIndexOutOfRange.
    """
    e = dep.evidence.evidenceAt(int(record_id), int(index))
    return {"index": int(index), "ciphertext_sha256": "0x" + e.ciphertextSha256.hex(),
            "salted_plaintext_sha256": "0x" + e.saltedPlaintextSha256.hex(), "by": e.by, "attached_at": e.attachedAt,
            "kind": e.kind}


def custodial_encryption_key(client: ChainClient, account: str) -> bytes | None:
    """The X25519 evidence key of a custodial ``account`` (derived from the signing key the chain
    client holds), or None if the client holds no key for it."""
    acct = getattr(client, "_accounts", {}).get(to_checksum_address(account))
    return None if acct is None else derive_encryption_key(bytes(acct.key))


