"""Alembic environment of the event indexer's store (ledger/indexer.py IndexerBase)."""

from __future__ import annotations

from ledger.chain.indexer import IndexerBase
from ledger.store.alembic_env import run_env

run_env("indexer", IndexerBase.metadata)
