"""Body of every store's Alembic ``env.py`` (ledger/migrations/*/env.py, oracles/migrations/env.py,
api/migrations/env.py): run the migrations Alembic asked for, on a connection handed over by
:func:`ledger.store.migrate.upgrade` or on a URL from the ``alembic`` command line.

Apart from :mod:`ledger.store.migrate` because it opens engines with :mod:`ledger.store.db`,
which itself migrates through :mod:`ledger.store.migrate` (no cycle between the two)."""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import MetaData

from ledger.store.db import make_engine, sqlite_url
from ledger.store.migrate import URL_ENV, MigrationError, only_tables_of, store_spec


def run_env(store: str, target_metadata: MetaData) -> None:
    """Body of every store's ``env.py``: run the migrations Alembic asked for.

    Programmatic use (:func:`upgrade`) passes the connection in ``config.attributes``. From the
    ``alembic`` command line the URL comes from ``-x url=...``, else the environment variable
    :data:`URL_ENV`, else ``sqlalchemy.url`` of the ini section; ``--sql`` (offline) renders SQL.
    """
    config = context.config
    if config.config_file_name is not None and config.attributes.get("connection") is None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    opts: dict[str, Any] = {
        "target_metadata": target_metadata,
        "version_table": store_spec(store).version_table,
        "include_name": only_tables_of(target_metadata),
        "compare_type": True,
        "render_as_batch": True,    # SQLite can only ALTER through batch (copy-and-move) operations
    }
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(URL_ENV) \
        or config.get_main_option("sqlalchemy.url")
    if not url:
        raise MigrationError(f"no database URL: pass -x url=..., set {URL_ENV} or sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        url = sqlite_url(Path(url.removeprefix("sqlite:///")))   # creates the directory
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, **opts)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
