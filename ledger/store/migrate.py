"""Alembic migrations of every SQL store: the chain client's journal, an oracle node's store, the
event indexer and the API store (DESIGN.md §8: "SQLAlchemy 2 models; SQLite file by default,
PostgreSQL by URL; Alembic migrations").

Each store has its own migrations folder and its own version table (``alembic_version_<store>``),
so several stores can share one database. :func:`upgrade` is what a process calls when it opens
a store; it is cheap when the store is already at head (one query), serialised per process and,
across processes, by ``BEGIN IMMEDIATE`` on SQLite and a transaction-scoped advisory lock on
PostgreSQL.

Data directories made before migrations existed hold a store's tables (created by
``metadata.create_all``) but no version table: :func:`upgrade` checks that their columns are the
baseline revision's and stamps the baseline instead of failing, then applies later revisions.

``ledger`` never imports ``oracles`` or ``api``: a store's folder is located without importing its
package (:func:`importlib.util.find_spec` of a top-level package does not execute it); the
store's own ``env.py`` imports its models.

Adding a revision: see ``ledger/migrations/README``.
"""

from __future__ import annotations

import importlib.util
import threading
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect, text
from sqlalchemy.orm import DeclarativeBase


class MigrationError(RuntimeError):
    """A store's schema could not be brought to the wanted revision."""


class UnknownStore(MigrationError, ValueError):
    """The store name (or declarative base) is not one of :data:`STORES`."""


class SchemaMismatch(MigrationError):
    """A database holds some of a store's tables, or tables with other columns, and no version
    table: it was not made by this project's ``create_all`` and is not stamped (nothing changed)."""


@dataclass(frozen=True)
class StoreSpec:
    """Where a store's migrations live and which declarative base they follow.

    Attributes:
        name: store name, also the suffix of its version table.
        package: top-level package holding the migrations folder (located, never imported).
        folder: the migrations folder inside that package (``env.py``, ``versions/``).
        base: dotted path of the store's declarative base (its ``env.py`` imports it).
    """

    name: str
    package: str
    folder: str
    base: str

    @property
    def version_table(self) -> str:
        """The store's Alembic version table, e.g. ``alembic_version_journal``."""
        return f"alembic_version_{self.name}"


#: Every SQL store of the project (STORAGE.md: "journal", "oracle", "indexer", "api"; "alerts": issue 13).
STORES: dict[str, StoreSpec] = {
    "journal": StoreSpec("journal", "ledger", "migrations/journal", "ledger.chain.journal.JournalBase"),
    "oracle": StoreSpec("oracle", "oracles", "migrations", "oracles.store.StoreBase"),
    "indexer": StoreSpec("indexer", "ledger", "migrations/indexer", "ledger.records.indexer.IndexerBase"),
    "api": StoreSpec("api", "api", "migrations", "api.store.ApiBase"),
    "alerts": StoreSpec("alerts", "ledger", "migrations/alerts", "ledger.alerts.store.AlertsBase"),
}

#: Environment variable giving the database URL when Alembic runs from its command line
#: (``-x url=...`` wins over it; ``sqlalchemy.url`` in ``ledger/migrations/alembic.ini`` is the default).
URL_ENV = "CARBONLEDGER_MIGRATE_URL"

# alembic.context is a module-level proxy: one migration at a time per process.
_LOCK = threading.RLock()


def store_spec(store: str) -> StoreSpec:
    """The :class:`StoreSpec` of ``store``. Raises :class:`UnknownStore`."""
    try:
        return STORES[store]
    except KeyError:
        raise UnknownStore(f"unknown store {store!r}; known stores: {', '.join(STORES)}") from None


def store_for_base(base: type[DeclarativeBase]) -> str:
    """The store whose declarative base is ``base`` (e.g. ``JournalBase`` -> ``"journal"``).

    Raises:
        UnknownStore: if ``base`` is not the base of any store in :data:`STORES`.
    """
    dotted = f"{base.__module__}.{base.__qualname__}"
    for spec in STORES.values():
        if spec.base == dotted:
            return spec.name
    raise UnknownStore(f"{dotted} is not the declarative base of a migrated store "
                       f"(known: {', '.join(s.base for s in STORES.values())})")


def migrations_dir(store: str) -> Path:
    """The migrations folder of ``store`` (holding ``env.py`` and ``versions/``).

    Raises:
        UnknownStore: unknown store name.
        MigrationError: the package or its migrations folder is absent.
    """
    spec = store_spec(store)
    found = importlib.util.find_spec(spec.package)   # top-level: located, not imported
    if found is None or not found.submodule_search_locations:
        raise MigrationError(f"package {spec.package!r} of store {store!r} is not importable")
    for root in found.submodule_search_locations:
        d = Path(root) / spec.folder
        if (d / "env.py").is_file():
            return d
    raise MigrationError(f"store {store!r} has no migrations: {spec.package}/{spec.folder}/env.py is missing")


@cache
def _script(store: str) -> ScriptDirectory:
    return ScriptDirectory(str(migrations_dir(store)))


def alembic_config(store: str, connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for ``store``: its script location, and ``connection`` (if
    given) passed to its ``env.py`` via ``config.attributes["connection"]``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(store)))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["store"] = store
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def heads(store: str) -> tuple[str, ...]:
    """Head revision(s) of ``store``'s migrations."""
    return tuple(_script(store).get_heads())


def baseline(store: str) -> str:
    """The base revision of ``store`` (the schema ``create_all`` made before migrations existed)."""
    bases = _script(store).get_bases()
    if len(bases) != 1:
        raise MigrationError(f"store {store!r} must have exactly one base revision, has {bases}")
    return bases[0]


def current_revision(connection: Connection, store: str) -> tuple[str, ...]:
    """Revision(s) recorded in ``store``'s version table; ``()`` if none (or no table)."""
    ctx = MigrationContext.configure(connection, opts={"version_table": store_spec(store).version_table})
    return tuple(ctx.get_current_heads())


def upgrade(engine: Engine, store: str, revision: str = "head") -> None:
    """Bring ``store``'s schema in ``engine`` to ``revision`` (default: head).

    An empty database gets every revision; a database already there is left alone (one query);
    a database made by ``create_all`` before migrations existed (the store's tables present,
    no revision recorded) is checked against the baseline revision's columns and stamped with
    it, then upgraded.

    Raises:
        UnknownStore: ``store`` is not one of :data:`STORES`.
        SchemaMismatch: unversioned tables that are not exactly the baseline's (nothing changed).
        MigrationError: the store's migrations folder is missing or ambiguous, the database is at
            a revision this code does not know, or ``revision`` is not reachable by upgrading.
    """
    spec = store_spec(store)
    want = heads(store) if revision == "head" else (revision,)
    with engine.connect() as conn:
        if set(current_revision(conn, store)) == set(want):
            return
    with _LOCK, engine.begin() as conn:
        _lock_store(conn, spec)
        current = current_revision(conn, store)       # again, under the lock
        if set(current) == set(want):
            return
        unknown = [r for r in current if r not in _known_revisions(store)]
        if unknown:
            raise MigrationError(f"store {store!r} is at revision {', '.join(unknown)}, which this code does not "
                                 f"know (made by a newer version?); its revisions end at {', '.join(heads(store))}")
        if not current:
            _stamp_if_created_by_create_all(conn, store)
        try:
            command.upgrade(alembic_config(store, conn), revision)
        except CommandError as exc:
            raise MigrationError(f"store {store!r}: cannot upgrade to {revision!r}: {exc}") from exc


def _known_revisions(store: str) -> set[str]:
    return {s.revision for s in _script(store).walk_revisions()}


def _lock_store(conn: Connection, spec: StoreSpec) -> None:
    """Serialise migrations of one store across processes, until the transaction ends."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(spec.version_table.encode()) - 2**31   # fits a signed bigint
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    elif conn.dialect.name == "sqlite" and not getattr(conn.connection.dbapi_connection, "in_transaction", True):
        # pysqlite opens no transaction before DDL; take the write lock now, so DDL and the
        # version row commit (or roll back) together and a second process waits.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _stamp_if_created_by_create_all(conn: Connection, store: str) -> bool:
    """Stamp the baseline if the baseline's tables are all there with the baseline's columns.

    Returns False when none of them exists (a fresh database). Raises :class:`SchemaMismatch`
    for anything in between.
    """
    expected = baseline_columns(store)
    have = set(inspect(conn).get_table_names())
    present = sorted(t for t in expected if t in have)
    if not present:
        return False
    problems: list[str] = []
    missing = sorted(set(expected) - have)
    if missing:
        problems.append(f"tables missing: {', '.join(missing)}")
    for table in present:
        cols = {c["name"] for c in inspect(conn).get_columns(table)}
        if cols != expected[table]:
            extra, lack = sorted(cols - expected[table]), sorted(expected[table] - cols)
            problems.append(f"{table}: " + "; ".join(
                p for p in (f"unexpected columns {extra}" if extra else "", f"missing columns {lack}" if lack else "") if p))
    if problems:
        raise SchemaMismatch(f"store {store!r} has unversioned tables that are not its baseline "
                             f"{baseline(store)!r}: " + " | ".join(problems))
    command.stamp(alembic_config(store, conn), baseline(store))
    return True


@cache
def baseline_columns(store: str) -> dict[str, frozenset[str]]:
    """Table -> column names of ``store``'s baseline revision (built in an in-memory SQLite
    database, so the check is the same whatever the store's dialect)."""
    scratch = create_engine("sqlite://")
    try:
        with _LOCK, scratch.begin() as conn:
            command.upgrade(alembic_config(store, conn), baseline(store))
            insp = inspect(conn)
            version = store_spec(store).version_table
            return {t: frozenset(c["name"] for c in insp.get_columns(t))
                    for t in insp.get_table_names() if t != version}
    finally:
        scratch.dispose()


def schema_diff(connection: Connection, store: str, metadata: MetaData) -> list[Any]:
    """Alembic autogenerate's differences between the database and ``metadata`` (the store's
    models), looking only at the store's own tables; ``[]`` means none."""
    ctx = MigrationContext.configure(connection, opts={
        "version_table": store_spec(store).version_table,
        "include_name": only_tables_of(metadata),
        "compare_type": True,
    })
    return list(compare_metadata(ctx, metadata))


def only_tables_of(metadata: MetaData) -> Any:
    """Alembic ``include_name`` filter: only the tables of ``metadata`` (other stores' tables in a
    shared database are not ours to drop)."""
    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        # Other stores' tables (and version tables) in a shared database are not ours to drop.
        return type_ != "table" or name in metadata.tables
    return include_name
