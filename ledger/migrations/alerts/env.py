"""Alembic environment of the early-warning store (ledger/alerts/store.py AlertsBase)."""

from __future__ import annotations

from ledger.alerts.store import AlertsBase
from ledger.store.alembic_env import run_env

run_env("alerts", AlertsBase.metadata)
