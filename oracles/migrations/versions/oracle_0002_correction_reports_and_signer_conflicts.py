"""Correction reports (late readings supersede an anchored batch) and signer conflicts
(evidence of oracles that signed a root other than the quorum's).

Revision ID: oracle_0002
Revises: oracle_0001
Create Date: 2026-11-23 11:18:43.997433
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'oracle_0002'
down_revision: str | Sequence[str] | None = 'oracle_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``correction_reports`` and ``signer_conflicts``."""
    op.create_table('correction_reports',
    sa.Column('device', sa.LargeBinary(length=32), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('config_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('supersedes', sa.LargeBinary(length=32), nullable=False),
    sa.Column('end', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('total_wh', sa.BigInteger(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('report_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=65), nullable=False),
    sa.Column('anchored_batch_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('device', 'start', 'config_digest', 'supersedes')
    )
    op.create_table('signer_conflicts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=80), nullable=False),
    sa.Column('signer', sa.String(length=42), nullable=False),
    sa.Column('device', sa.LargeBinary(length=32), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('end', sa.BigInteger(), nullable=False),
    sa.Column('config_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('supersedes', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signed_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signed_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=65), nullable=False),
    sa.Column('quorum_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('quorum_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('detected_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('signer', 'signed_digest', name='uq_signer_conflicts_signer_digest')
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table('signer_conflicts')
    op.drop_table('correction_reports')
