"""Alembic environment of the chain client's write-ahead journal (ledger/chain/journal.py JournalBase)."""

from __future__ import annotations

from ledger.chain.journal import JournalBase
from ledger.store.alembic_env import run_env

run_env("journal", JournalBase.metadata)
