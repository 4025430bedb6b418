"""Baseline: the chain client's write-ahead journal ``tx_journal``.

The schema ``JournalBase.metadata.create_all`` made before migrations existed (core slice,
ledger/chain.py); journals made that way are stamped with this revision by
ledger.store.migrate.upgrade after their columns are checked.

Revision ID: journal_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "journal_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``tx_journal`` with its indexes."""
    op.create_table(
        "tx_journal",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash"),
        sa.UniqueConstraint("chain_id", "sender", "nonce", name="uq_journal_sender_nonce"),
    )
    op.create_index(op.f("ix_tx_journal_sender"), "tx_journal", ["sender"], unique=False)
    op.create_index(op.f("ix_tx_journal_status"), "tx_journal", ["status"], unique=False)


def downgrade() -> None:
    """Drop ``tx_journal``."""
    op.drop_index(op.f("ix_tx_journal_status"), table_name="tx_journal")
    op.drop_index(op.f("ix_tx_journal_sender"), table_name="tx_journal")
    op.drop_table("tx_journal")
