"""Idempotency leases: ``idempotency.owner`` (random token of the request holding the key) and
``idempotency.lease_until_ms`` (UTC ms; the holder renews it while it runs). An in-progress key
whose lease ran out belongs to a request that died: a retry takes it over (api/idempotency.py).

Revision ID: api_0004
Revises: api_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0004"
down_revision: str | Sequence[str] | None = "api_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add both nullable columns (rows left in progress before this revision have no lease: a
    retry may take them over at once)."""
    with op.batch_alter_table("idempotency") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("lease_until_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop both columns."""
    with op.batch_alter_table("idempotency") as batch:
        batch.drop_column("lease_until_ms")
        batch.drop_column("owner")
