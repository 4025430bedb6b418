"""Journal entries name the request they belong to: ``tx_journal.idempotency_key`` (SHA-256 hex of
the caller and its ``Idempotency-Key``, ledger.chain.client.journal_tag), so a retry can finish the
transactions of a request that died instead of signing new ones (issue 10, retries that recover).

Revision ID: journal_0002
Revises: journal_0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "journal_0002"
down_revision: str | Sequence[str] | None = "journal_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``idempotency_key`` column and its index (existing rows: untagged)."""
    with op.batch_alter_table("tx_journal") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_tx_journal_idempotency_key"), ["idempotency_key"], unique=False)


def downgrade() -> None:
    """Drop the column and its index."""
    with op.batch_alter_table("tx_journal") as batch:
        batch.drop_index(op.f("ix_tx_journal_idempotency_key"))
        batch.drop_column("idempotency_key")
