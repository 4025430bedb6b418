"""Rule runs recorded (issue 13): ``alert_runs`` — one row per evaluation run and data set (rules and
their versions, counts per rule fired / not evaluable with reasons).

Revision ID: alerts_0002
Revises: alerts_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'alerts_0002'
down_revision: str | Sequence[str] | None = 'alerts_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``alert_runs`` with its indexes."""
    op.create_table('alert_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('dataset', sa.String(length=80), nullable=False),
    sa.Column('trigger', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.BigInteger(), nullable=False),
    sa.Column('finished_at', sa.BigInteger(), nullable=False),
    sa.Column('rules', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('alerts_total', sa.Integer(), nullable=False),
    sa.Column('alerts_new', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_runs_dataset'), ['dataset'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_runs_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    """Drop ``alert_runs``."""
    with op.batch_alter_table('alert_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_runs_run_id'))
        batch_op.drop_index(batch_op.f('ix_alert_runs_dataset'))

    op.drop_table('alert_runs')
