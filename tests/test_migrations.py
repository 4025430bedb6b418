"""Alembic migrations of every SQL store, on SQLite and on PostgreSQL (started by
scripts/postgres.sh through the ``pg_url`` fixture of tests/pg.py): an upgraded database has
exactly the models' schema, upgrading is idempotent, data directories made by ``create_all``
are stamped (not broken), and the oracle store and the chain journal work on PostgreSQL."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Session

from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ChainClient, JournalBase, JournalEntry
from ledger.crypto.primitives import Signer, new_private_key
from ledger.meter_data.reading import Reading
from ledger.store.db import make_engine, sqlite_url
from ledger.store.migrate import (
    STORES,
    MigrationError,
    SchemaMismatch,
    UnknownStore,
    alembic_config,
    baseline,
    baseline_columns,
    current_revision,
    heads,
    schema_diff,
    upgrade,
)
from oracles.chain_devices import ChainDeviceDirectory
from oracles.device import DeviceSigner
from oracles.node import OracleNode
from oracles.store import QuarantinedReading, StoreBase, StoredReading
from tests.conftest import ROOT, World
from tests.helpers import DAY0, minute_readings

BACKENDS = ["sqlite", "postgresql"]


def base_of(store: str) -> type[DeclarativeBase]:
    """The declarative base of ``store`` (imported from its dotted path in STORES)."""
    module, _, name = STORES[store].base.rpartition(".")
    base: type[DeclarativeBase] = getattr(importlib.import_module(module), name)
    return base


def metadata_of(store: str) -> MetaData:
    return base_of(store).metadata


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "store.sqlite")
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


def diff(engine: Engine, store: str) -> list[object]:
    with engine.connect() as c:
        return schema_diff(c, store, metadata_of(store))


def revision_of(engine: Engine, store: str) -> tuple[str, ...]:
    with engine.connect() as c:
        return current_revision(c, store)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def made_before_migrations(engine: Engine, store: str) -> None:
    """What ``create_all`` made before migrations existed: the baseline revision's schema (by
    definition of the baseline; later revisions add columns the old models did not have) and no
    version table."""
    upgrade(engine, store, baseline(store))
    with engine.begin() as c:
        c.execute(text(f"DROP TABLE {STORES[store].version_table}"))


# ------------------------------------------------------------------ every store, both backends
@pytest.mark.parametrize("store", list(STORES))
def test_upgrading_an_empty_database_gives_exactly_the_models_schema(store: str, db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, store)
    assert diff(engine, store) == []
    assert revision_of(engine, store) == heads(store)
    assert tables(engine) == set(metadata_of(store).tables) | {STORES[store].version_table}


@pytest.mark.parametrize("store", list(STORES))
def test_upgrade_is_idempotent_and_keeps_the_data(store: str, db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, store)
    first = min(metadata_of(store).tables)
    with engine.begin() as c:
        c.execute(text(f"CREATE TABLE marker_{store} (x INTEGER)"))  # not the store's: must survive too
        c.execute(text(f"INSERT INTO marker_{store} VALUES (7)"))
        before = c.execute(text(f'SELECT COUNT(*) FROM "{first}"')).scalar_one()
    upgrade(engine, store)
    upgrade(engine, store)
    with engine.connect() as c:
        assert c.execute(text(f"SELECT x FROM marker_{store}")).scalar_one() == 7
        assert c.execute(text(f'SELECT COUNT(*) FROM "{first}"')).scalar_one() == before
        assert c.execute(text(f"SELECT COUNT(*) FROM {STORES[store].version_table}")).scalar_one() == 1
    assert revision_of(engine, store) == heads(store) and diff(engine, store) == []


@pytest.mark.parametrize("store", list(STORES))
def test_a_database_made_by_create_all_is_stamped_not_broken(store: str, db_url: str) -> None:
    engine = make_engine(db_url)
    made_before_migrations(engine, store)              # a data directory from before migrations
    assert STORES[store].version_table not in tables(engine)
    assert {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in tables(engine)} == baseline_columns(store)
    upgrade(engine, store)
    assert revision_of(engine, store) == heads(store)
    assert diff(engine, store) == []


@pytest.mark.parametrize("store", list(STORES))
def test_every_store_downgrades_to_nothing_and_upgrades_again(store: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "store.sqlite"))
    upgrade(engine, store)
    with engine.begin() as c:
        command.downgrade(alembic_config(store, c), "base")
    assert tables(engine) == {STORES[store].version_table} and revision_of(engine, store) == ()
    upgrade(engine, store)
    assert diff(engine, store) == []


def test_all_stores_share_one_database_each_with_its_own_version_table(db_url: str) -> None:
    engine = make_engine(db_url)
    for store in STORES:
        upgrade(engine, store)
    for store in STORES:
        assert revision_of(engine, store) == heads(store)
        assert diff(engine, store) == []      # the other stores' tables are not "to be dropped"
    assert {STORES[s].version_table for s in STORES} <= tables(engine)


def test_concurrent_upgrades_of_one_store_from_several_processes_all_succeed(db_url: str) -> None:
    prog = ("import sys; from ledger.store.db import make_engine; from ledger.store.migrate import upgrade; "
            "upgrade(make_engine(sys.argv[1]), 'oracle')")
    procs = [subprocess.Popen([sys.executable, "-c", prog, db_url], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    engine = make_engine(db_url)
    assert revision_of(engine, "oracle") == heads("oracle") and diff(engine, "oracle") == []


def test_concurrent_upgrades_from_threads_of_one_process_all_succeed(tmp_path: Path) -> None:
    shared = make_engine(sqlite_url(tmp_path / "shared.sqlite"))
    own = [make_engine(sqlite_url(tmp_path / f"own{i}.sqlite")) for i in range(3)]
    failures: list[BaseException] = []

    def run(engine: Engine, store: str) -> None:
        try:
            upgrade(engine, store)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(e, s)) for e in [shared, *own] for s in ("journal", "oracle")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for e in [shared, *own]:
        assert diff(e, "journal") == [] and diff(e, "oracle") == []


# ------------------------------------------------------------------ data survives the stamp
def test_a_journal_made_by_create_all_keeps_its_transactions(db_url: str) -> None:
    engine = make_engine(db_url)
    made_before_migrations(engine, "journal")
    with Session(engine) as s, s.begin():
        s.execute(text("INSERT INTO tx_journal (tx_hash, chain_id, sender, nonce, raw, label, status, created_at) "
                       "VALUES (:h, 31337, :s, 4, :raw, 'old', 'signed', '2026-01-01T00:00:00+00:00')"),
                  {"h": "0x" + "ab" * 32, "s": "0x" + "11" * 20, "raw": b"\x02raw"})
    make_engine(db_url, metadata=JournalBase)          # what ChainClient does when it opens the journal
    with Session(engine) as s:
        e = s.scalars(select(JournalEntry)).one()
        # journal_0003: a signed, unmined row is "pending"
        assert (e.nonce, e.raw, e.label, e.status, e.idempotency_key) == (4, b"\x02raw", "old", "pending", None)
    assert revision_of(engine, "journal") == heads("journal") == ("journal_0003",)


def test_an_oracle_store_made_by_create_all_keeps_its_readings(db_url: str) -> None:
    engine = make_engine(db_url)
    md = StoreBase.metadata           # the baseline's tables: what create_all made before migrations existed
    md.create_all(engine, tables=[md.tables["readings"], md.tables["quarantine"], md.tables["batch_reports"]])
    with Session(engine) as s, s.begin():
        s.add(StoredReading(device=b"\x01" * 32, sequence=1, start=0, end=60, quantity_code=1, value=2**62, scale=0,
                            flags=0, signature=b"\x02" * 65, leaf=b"\x03" * 32, received_at=99))
    make_engine(db_url, store="oracle")
    with Session(engine) as s:
        assert s.scalars(select(StoredReading.value)).all() == [2**62]
    assert revision_of(engine, "oracle") == heads("oracle")


# ------------------------------------------------------------------ refusals
def test_upgrade_refuses_unversioned_tables_with_other_columns(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE tx_journal (tx_hash VARCHAR(66) PRIMARY KEY, note TEXT)"))
    with pytest.raises(SchemaMismatch, match=r"tx_journal: unexpected columns \['note'\]; missing columns \[.*'chain_id'"):
        upgrade(engine, "journal")
    assert revision_of(engine, "journal") == ()       # nothing stamped
    assert {c["name"] for c in inspect(engine).get_columns("tx_journal")} == {"tx_hash", "note"}


def test_upgrade_refuses_a_store_with_only_some_of_its_tables(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "partial.sqlite"))
    md = StoreBase.metadata
    md.create_all(engine, tables=[md.tables["readings"], md.tables["quarantine"]])
    with pytest.raises(SchemaMismatch, match="tables missing: batch_reports"):
        upgrade(engine, "oracle")
    assert revision_of(engine, "oracle") == ()


def test_upgrade_refuses_a_database_at_a_revision_this_code_does_not_know(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "newer.sqlite"))
    upgrade(engine, "journal")
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version_journal SET version_num = 'journal_9999'"))
    with pytest.raises(MigrationError, match="at revision journal_9999, which this code does not know"):
        upgrade(engine, "journal")
    assert revision_of(engine, "journal") == ("journal_9999",)


def test_upgrade_refuses_an_unknown_store(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "x.sqlite"))
    with pytest.raises(UnknownStore, match="unknown store 'ledgr'; known stores: journal, oracle, indexer, api"):
        upgrade(engine, "ledgr")
    with pytest.raises(UnknownStore, match="unknown store"):
        make_engine(sqlite_url(tmp_path / "y.sqlite"), store="ledgr")


def test_make_engine_refuses_a_declarative_base_that_is_not_a_store(tmp_path: Path) -> None:
    class Stray(DeclarativeBase):
        pass

    with pytest.raises(UnknownStore, match="is not the declarative base of a migrated store"):
        make_engine(sqlite_url(tmp_path / "z.sqlite"), metadata=Stray)


# ------------------------------------------------------------------ the alembic command line
def test_the_alembic_command_line_upgrades_and_finds_nothing_to_autogenerate(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "cli.sqlite")
    ini = str(ROOT / "ledger" / "migrations" / "alembic.ini")

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "alembic", "-c", ini, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)

    up = alembic("-n", "oracle", "-x", f"url={url}", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    check = alembic("-n", "oracle", "-x", f"url={url}", "check")
    assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout + check.stderr, check.stderr
    engine = make_engine(url)
    assert revision_of(engine, "oracle") == heads("oracle")
    upgrade(engine, "journal")          # a second store in the same file: the oracle store still checks clean
    again = alembic("-n", "oracle", "-x", f"url={url}", "check")
    assert again.returncode == 0, again.stderr


# ------------------------------------------------------------------ the stores at work on PostgreSQL
NOW = DAY0 + 10 * 86_400


def _node(w: World, engine: Engine) -> OracleNode:
    return OracleNode("oracle-1", Signer(w.keys["oracle-1"]), engine, w.dep.domain.separator,
                      ChainDeviceDirectory(w.dep, ttl=0), lambda: bytes(w.call(w.dep.anchor.functions.configDigest())),
                      clock=lambda: NOW)


def test_the_oracle_store_ingests_and_builds_the_same_report_on_postgresql_as_on_sqlite(
        chain: World, tmp_path: Path, fresh_pg_url: str) -> None:
    dev = DeviceSigner(chain.device, chain.device_key, chain.dep.domain.separator)
    batch = [dev.sign(r) for r in minute_readings(chain.device, DAY0, [100 + i for i in range(60)])]
    forged = dev.sign(Reading(chain.device, 2, DAY0 + 60, DAY0 + 120, 1, 999, 0, 0))
    late = dev.sign(Reading(chain.device, 61, DAY0 + 3600, DAY0 + 3660, 1, 5, 0, 0))
    views = {}
    for backend, url in (("sqlite", sqlite_url(tmp_path / "o.sqlite")), ("postgresql", fresh_pg_url)):
        node = _node(chain, make_engine(url))
        assert {a.status for a in node.ingest(batch)} == {"accepted"}
        assert [a.status for a in node.ingest(batch[:2])] == ["duplicate", "duplicate"]
        assert (node.ingest([forged])[0].reason, node.counts(chain.device, DAY0, DAY0 + 3600)) == ("conflict", (60, 1))
        report = node.build_report(chain.device, DAY0, DAY0 + 3600)
        assert report is not None and report == node.build_report(chain.device, DAY0, DAY0 + 3600)
        node.mark_anchored(chain.device, DAY0, report.report.config_digest, 7)
        reopened = _node(chain, make_engine(url))           # a restart: state comes from the store
        assert reopened.ingest(batch[5:6])[0].status == "duplicate"
        assert reopened.ingest([late])[0].status == "accepted"
        proof = reopened.proof(chain.device, 30)
        assert proof is not None and proof[2].anchored_batch_id == 7
        views[backend] = (report.report, report.digest, report.signature, len(proof[1]))
        with Session(node.engine) as s:
            q = s.scalars(select(QuarantinedReading)).one()
            assert (q.reason, q.sequence, q.device) == ("conflict", 2, chain.device)
    assert views["sqlite"] == views["postgresql"]
    assert views["postgresql"][0].count == 60 and views["postgresql"][0].total_wh == (60 * sum(100 + i for i in range(60)) + 1800) // 3600


def test_the_chain_journal_on_postgresql_journals_and_recovers_transactions(chain: World, fresh_pg_url: str) -> None:
    client = ChainClient(chain.client.rpc_url, make_engine(fresh_pg_url))
    try:
        me = client.add_account(new_private_key())
        set_balances(client, [me])
        snap = client.rpc("evm_snapshot")
        sent = client.send([Call(me, me, b"", "self-transfer")])[0]
        with Session(client.journal) as s:
            row = s.get(JournalEntry, sent.tx_hash)
            assert row is not None and (row.status, row.block_number, row.nonce, row.receipt_status) == ("final", sent.block_number, 0, 1)
        client.rpc("evm_revert", snap)                     # the node forgets it, as after a restart from a snapshot
        assert client.rpc("eth_getTransactionByHash", sent.tx_hash) is None
        assert client.recover() == 1                       # re-sent from the PostgreSQL journal
        assert client.rpc("eth_getTransactionByHash", sent.tx_hash) is not None
        assert client.recover() == 0
    finally:
        client.http.close()
