"""Baseline: an oracle node's store — ``readings``, ``quarantine``, ``batch_reports``.

The schema ``StoreBase.metadata.create_all`` made before migrations existed (core slice,
oracles/store.py); stores made that way are stamped with this revision by
ledger.store.migrate.upgrade after their columns are checked.

Revision ID: oracle_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "oracle_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables with their indexes."""
    op.create_table(
        "readings",
        sa.Column("device", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("quantity_code", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("scale", sa.SmallInteger(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.Column("leaf", sa.LargeBinary(length=32), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device", "sequence"),
    )
    op.create_index("ix_readings_device_start", "readings", ["device", "start"], unique=False)
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device", sa.LargeBinary(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("start", sa.BigInteger(), nullable=True),
        sa.Column("end", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quarantine_device_start", "quarantine", ["device", "start"], unique=False)
    op.create_index(op.f("ix_quarantine_reason"), "quarantine", ["reason"], unique=False)
    op.create_table(
        "batch_reports",
        sa.Column("device", sa.LargeBinary(length=32), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("config_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total_wh", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("supersedes", sa.LargeBinary(length=32), nullable=False),
        sa.Column("report_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.Column("anchored_batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("device", "start", "config_digest"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("batch_reports")
    op.drop_index(op.f("ix_quarantine_reason"), table_name="quarantine")
    op.drop_index("ix_quarantine_device_start", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_readings_device_start", table_name="readings")
    op.drop_table("readings")
