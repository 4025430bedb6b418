"""Alembic environment of the event indexer's store (ledger/records/indexer.py IndexerBase)."""

from __future__ import annotations

from ledger.records.indexer import IndexerBase
from ledger.store.alembic_env import run_env

run_env("indexer", IndexerBase.metadata)
