"""Baseline: the event indexer's store — ``indexer_checkpoint``, ``chain_events``.

The schema ``IndexerBase.metadata.create_all`` made before migrations existed (ledger/indexer.py);
stores made that way are stamped with this revision by ledger.store.migrate.upgrade after their
columns are checked. ``chain_events.id`` is BIGINT, but INTEGER on SQLite, where only an
``INTEGER PRIMARY KEY`` autoincrements.

Revision ID: indexer_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "indexer_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the two tables with their indexes."""
    op.create_table(
        "indexer_checkpoint",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_chain_events_tx_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chain_events_block_number", "chain_events", ["block_number"], unique=False)
    op.create_index("ix_chain_events_contract_event", "chain_events", ["contract", "event"], unique=False)


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_chain_events_contract_event", table_name="chain_events")
    op.drop_index("ix_chain_events_block_number", table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_table("indexer_checkpoint")
