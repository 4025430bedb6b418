"""Encrypted evidence: ``evidence_files`` (envelope files attached to emission records and the
on-chain position of their hashes).

Revision ID: api_0003
Revises: api_0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0003"
down_revision: str | Sequence[str] | None = "api_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``evidence_files`` and its indexes."""
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_index", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=66), nullable=False),
        sa.Column("uploaded_by", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("plaintext_bytes", sa.BigInteger(), nullable=False),
        sa.Column("envelope_bytes", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext_sha256", sa.String(length=66), nullable=False),
        sa.Column("salted_plaintext_sha256", sa.String(length=66), nullable=False),
        sa.Column("storage_name", sa.String(length=100), nullable=False),
        sa.Column("readers", sa.Text(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("rewrapped_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ciphertext_sha256"),
    )
    op.create_index("ix_evidence_files_org_id", "evidence_files", ["org_id"])
    op.create_index("ix_evidence_files_record", "evidence_files", ["record_id", "chain_index"])


def downgrade() -> None:
    """Drop ``evidence_files``."""
    op.drop_table("evidence_files")
