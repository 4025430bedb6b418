"""Journal entries track finality: status ``pending`` → ``included`` → ``final`` (was ``signed`` →
``mined`` | ``reverted``), the receipt's status in the new column ``receipt_status`` (issue 11,
"the journal tracks pending → included → final"). Old ``mined`` rows become ``included`` with
receipt status 1, ``reverted`` rows ``included`` with 0, ``signed`` rows ``pending``; the client
promotes included rows to final when it next checks their depth.

Revision ID: journal_0003
Revises: journal_0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "journal_0003"
down_revision: str | Sequence[str] | None = "journal_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``receipt_status`` and rename the statuses."""
    with op.batch_alter_table("tx_journal") as batch:
        batch.add_column(sa.Column("receipt_status", sa.Integer(), nullable=True))
    op.execute("UPDATE tx_journal SET receipt_status = 1, status = 'included' WHERE status = 'mined'")
    op.execute("UPDATE tx_journal SET receipt_status = 0, status = 'included' WHERE status = 'reverted'")
    op.execute("UPDATE tx_journal SET status = 'pending' WHERE status = 'signed'")


def downgrade() -> None:
    """Back to ``signed`` / ``mined`` / ``reverted`` and drop ``receipt_status``."""
    op.execute("UPDATE tx_journal SET status = 'signed' WHERE status = 'pending'")
    op.execute("UPDATE tx_journal SET status = 'reverted' WHERE status IN ('included', 'final') AND receipt_status = 0")
    op.execute("UPDATE tx_journal SET status = 'mined' WHERE status IN ('included', 'final')")
    with op.batch_alter_table("tx_journal") as batch:
        batch.drop_column("receipt_status")
