"""Alembic environment of the API's store (api/store.py ApiBase: API keys, signed-request
nonces, idempotency records)."""

from __future__ import annotations

from api.store import ApiBase
from ledger.store.alembic_env import run_env

run_env("api", ApiBase.metadata)
