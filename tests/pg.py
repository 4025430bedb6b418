"""PostgreSQL for the tests: a throwaway cluster installed and started by the project's own
``scripts/postgres.sh`` (Debian's packages), or the server named by ``CARBONLEDGER_TEST_PG_URL``.

Fixtures (imported by tests/conftest.py):

* ``pg_url`` (session): SQLAlchemy URL of the database ``carbonledger`` on a cluster started in a
  temporary directory on a free port, stopped and removed at the end. If the cluster cannot be
  started the tests using it FAIL when ``CI=true`` (CI must really run on PostgreSQL) and are
  skipped, with the reason, otherwise.
* ``fresh_pg_url``: a new empty database per test (``CREATE DATABASE`` with a random name,
  dropped afterwards), so tests never see each other's tables. With ``CARBONLEDGER_TEST_PG_URL``
  its role needs the CREATEDB privilege (PostgreSQL ≥ 13 for ``DROP DATABASE … WITH (FORCE)``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, make_url, text

from ledger.chain.anvil import free_port

ROOT = Path(__file__).resolve().parent.parent
PG_SCRIPT = ROOT / "scripts" / "postgres.sh"
URL_ENV = "CARBONLEDGER_TEST_PG_URL"


def _unavailable(reason: str) -> NoReturn:
    msg = f"PostgreSQL unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " (CI=true: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(msg + f" (set {URL_ENV} to use an existing server)")


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(PG_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database for the session (see the module docstring)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    # Under the system temp dir, not pytest's 0700 per-user dir: as root the cluster runs as the
    # `postgres` OS user, which must be able to reach it.
    cluster = Path(tempfile.mkdtemp(prefix="carbonledger-pg-"))
    try:
        url = None
        reason = ""
        for _ in range(3):   # the free port may be taken between choosing and binding it
            try:
                r = _run("start", str(cluster), str(free_port()), timeout=900)   # may apt-get install
            except (OSError, subprocess.TimeoutExpired) as exc:
                reason = f"scripts/postgres.sh could not run: {exc}"
                break
            if r.returncode == 0 and r.stdout.strip():
                url = r.stdout.strip().splitlines()[-1]
                break
            reason = f"scripts/postgres.sh start failed ({r.returncode}): {r.stderr.strip()[-2000:]}"
            if "could not bind" not in r.stderr and "already in use" not in r.stderr:
                break
        if url is None:
            _unavailable(reason)
        yield url
    finally:
        try:
            _run("stop", str(cluster), timeout=120)
        finally:
            shutil.rmtree(cluster, ignore_errors=True)


@pytest.fixture()
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    base = make_url(pg_url)
    name = f"cl_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:   # WITH (FORCE): the test's engines may still hold connections
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
