"""Baseline: the API's store — ``api_keys``, ``request_nonces``, ``idempotency``.

The schema ``ApiBase.metadata.create_all`` made before migrations existed (api/store.py);
stores made that way are stamped with this revision by ledger.store.migrate.upgrade after their
columns are checked.

Revision ID: api_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "api_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables with their indexes."""
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=66), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("replaced_by", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index(op.f("ix_api_keys_account"), "api_keys", ["account"], unique=False)
    op.create_index(op.f("ix_api_keys_org_id"), "api_keys", ["org_id"], unique=False)
    op.create_table(
        "request_nonces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "nonce", name="uq_nonce_account"),
    )
    op.create_index(op.f("ix_request_nonces_timestamp"), "request_nonces", ["timestamp"], unique=False)
    op.create_table(
        "idempotency",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method_path", sa.String(length=300), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("principal", "key", name="uq_idempotency_principal_key"),
    )
    op.create_index("ix_idempotency_created", "idempotency", ["created_at"], unique=False)


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_idempotency_created", table_name="idempotency")
    op.drop_table("idempotency")
    op.drop_index(op.f("ix_request_nonces_timestamp"), table_name="request_nonces")
    op.drop_table("request_nonces")
    op.drop_index(op.f("ix_api_keys_org_id"), table_name="api_keys")
    op.drop_index(op.f("ix_api_keys_account"), table_name="api_keys")
    op.drop_table("api_keys")
