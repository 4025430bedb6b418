"""SQL engines for every store (oracle stores, chain journal, API): SQLite files by default,
PostgreSQL (or any SQLAlchemy URL) by configuration.

SQLite stores run in WAL mode with ``synchronous=FULL`` so that a commit that returned is on
disk before a reading is acknowledged or a transaction is sent (DESIGN.md §3, §7).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase

from ledger.store.migrate import store_for_base, upgrade


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(url: str, *, store: str | None = None, metadata: type[DeclarativeBase] | None = None) -> Engine:
    """Create an engine for ``url``; if ``store`` (e.g. ``"journal"``) or its declarative base
    ``metadata`` is given, migrate that store's schema to head (:func:`ledger.store.migrate.upgrade`).

    SQLite connections get ``journal_mode=WAL``, ``synchronous=FULL`` and a 30 s busy timeout.

    Raises:
        UnknownStore: ``store``/``metadata`` is not a migrated store (ledger.store.migrate.STORES).
    """
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    if metadata is not None:
        store = store_for_base(metadata)
    if store is not None:
        upgrade(engine, store)
    return engine
