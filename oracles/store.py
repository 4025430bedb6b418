"""An oracle node's SQL store: accepted readings, quarantine, and the batch reports it signed.

The store is the source of truth for acknowledged readings (DESIGN.md §7): a reading is
acknowledged only after the transaction holding it has committed, and batches are rebuilt
from here after any restart.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.store.db import sqlite_url


class StoreBase(DeclarativeBase):
    """Declarative base of one oracle node's store."""


class StoredReading(StoreBase):
    """An accepted, signature-checked reading (one row per device and sequence)."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_device_start", "device", "start"),)

    device: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger)          # UTC s
    end: Mapped[int] = mapped_column(BigInteger)            # UTC s, exclusive
    quantity_code: Mapped[int] = mapped_column(SmallInteger)
    value: Mapped[int] = mapped_column(BigInteger)          # × 10^scale in the quantity's unit
    scale: Mapped[int] = mapped_column(SmallInteger)
    flags: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    leaf: Mapped[bytes] = mapped_column(LargeBinary(32))    # StandardMerkleTree leaf hash
    received_at: Mapped[int] = mapped_column(BigInteger)    # UTC s


class QuarantinedReading(StoreBase):
    """A refused reading, kept with the reason — nothing is silently dropped."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_device_start", "device", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[bytes] = mapped_column(LargeBinary)
    # None where the received value does not fit a signed 64-bit column (the payload keeps it)
    sequence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)              # the reading as received (JSON)
    received_at: Mapped[int] = mapped_column(BigInteger)


class _ReportColumns:
    """The columns every signed report row has: the batch report's period end, count, energy (Wh)
    and Merkle root, its EIP-712 digest and the node's signature, and the batch id once anchored."""

    end: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    total_wh: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    report_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    anchored_batch_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SignedBatchReport(_ReportColumns, StoreBase):
    """A batch report this node built and signed, and its anchoring once known."""

    __tablename__ = "batch_reports"

    device: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    config_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    supersedes: Mapped[bytes] = mapped_column(LargeBinary(32))


class CorrectionReport(_ReportColumns, StoreBase):
    """A correcting batch report this node signed: the readings of an already anchored period
    (late readings included), ``supersedes`` = bytes32 of the batch it replaces (DESIGN.md §4
    MeterDataAnchor: corrections supersede with a reason, never erase)."""

    __tablename__ = "correction_reports"

    device: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    config_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    supersedes: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)


class SignerConflict(StoreBase):
    """Evidence that an oracle signed a report for a period that differs from the one a quorum
    signed (a lying or faulty node): its signed digest and signature, kept by the submitter that
    saw it. One row per (node address, device, start, config digest, report digest)."""

    __tablename__ = "signer_conflicts"
    __table_args__ = (UniqueConstraint("signer", "signed_digest", name="uq_signer_conflicts_signer_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(80))
    signer: Mapped[str] = mapped_column(String(42))          # checksummed address recovered from the signature
    device: Mapped[bytes] = mapped_column(LargeBinary(32))
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)
    config_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    supersedes: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    quorum_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    quorum_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    detected_at: Mapped[int] = mapped_column(BigInteger)     # UTC s


def find_oracle_stores(directory: Path) -> list[tuple[str, str]]:
    """(name, SQLAlchemy URL) of every SQLite file in ``directory`` that holds a ``readings`` table —
    the oracle stores of a data directory's ``oracles/`` (its journals and API stores hold none) —
    in file-name order; [] if the directory does not exist."""
    out = []
    for p in sorted(directory.glob("*.sqlite")):
        probe = create_engine(sqlite_url(p))
        try:
            if inspect(probe).has_table(StoredReading.__tablename__):
                out.append((p.stem, sqlite_url(p)))
        finally:
            probe.dispose()
    return out
