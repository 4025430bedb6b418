"""Alembic environment of an oracle node's store (oracles/store.py StoreBase: readings,
quarantine, batch_reports). It lives under oracles/ because ledger/ never imports oracles/."""

from __future__ import annotations

from ledger.store.alembic_env import run_env
from oracles.store import StoreBase

run_env("oracle", StoreBase.metadata)
