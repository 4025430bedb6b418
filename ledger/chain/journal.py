"""The chain client's write-ahead journal: every signed raw transaction, recorded before it is sent.

DESIGN.md §3: a write goes **pending** (signed and journalled; the node may or may not have it) →
**included** (a receipt names its block) → **final** (its block is ``final_after`` blocks deep:
``head - block + 1 >= K``). A reorganisation that drops an included, not yet final transaction
turns it back to pending and the client re-sends the same signed bytes (same nonce, same hash).
``receipt_status`` is the receipt's status (1 succeeded, 0 reverted) once included.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Signed and journalled; no receipt seen (yet, or any more after a reorganisation).
PENDING = "pending"
#: Mined in a block that is not yet ``final_after`` blocks deep.
INCLUDED = "included"
#: Mined in a block at least ``final_after`` blocks deep (never changes again).
FINAL = "final"
#: Every status, in order.
STATUSES = (PENDING, INCLUDED, FINAL)


class JournalBase(DeclarativeBase):
    """Declarative base of the chain client's journal store."""


class JournalEntry(JournalBase):
    """One signed raw transaction, written before it is sent (write-ahead journal)."""

    __tablename__ = "tx_journal"
    __table_args__ = (UniqueConstraint("chain_id", "sender", "nonce", name="uq_journal_sender_nonce"),)

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | included | final
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))
    # :data:`ledger.chain.client.journal_tag` when it was signed: which request (idempotency key) it belongs to
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # the receipt's status once included: 1 succeeded, 0 reverted (None while pending)
    receipt_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
