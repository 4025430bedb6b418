"""Exchange settlement: ``exchange_trades`` (submitted trades, rule check outcome, settlement) and
``exchange_reference_closes`` (previous closes given by the exchange).

Revision ID: api_0002
Revises: api_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0002"
down_revision: str | Sequence[str] | None = "api_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``exchange_trades`` and its indexes."""
    op.create_table(
        "exchange_trades",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trade_id", sa.String(length=66), nullable=False),
        sa.Column("batch_key", sa.String(length=200), nullable=False),
        sa.Column("trade_day", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("seller", sa.String(length=42), nullable=False),
        sa.Column("buyer", sa.String(length=42), nullable=False),
        sa.Column("asset_id", sa.String(length=80), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("buyer_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("seller_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trade_id"),
    )
    op.create_index("ix_exchange_trades_batch_key", "exchange_trades", ["batch_key"])
    op.create_index("ix_exchange_trades_seller", "exchange_trades", ["seller"])
    op.create_index("ix_exchange_trades_day_asset", "exchange_trades", ["trade_day", "asset_id"])
    op.create_index("ix_exchange_trades_buyer_day", "exchange_trades", ["buyer", "trade_day"])
    op.create_table(
        "exchange_reference_closes",
        sa.Column("asset_id", sa.String(length=80), nullable=False),
        sa.Column("trade_day", sa.String(length=10), nullable=False),
        sa.Column("close_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "trade_day"),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("exchange_reference_closes")
    op.drop_table("exchange_trades")
