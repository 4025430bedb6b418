"""The layering is checked, not only written down (DESIGN.md §2, STYLE.md): the import-linter
contracts of pyproject.toml ([tool.importlinter]: scripts -> api -> oracles -> ledger, and the
layers inside ledger/) and ruff ([tool.ruff.lint]: pyflakes, import order, PLC0415 — no
function-level import that would hide an arrow from import-linter) pass on the whole tree.
This is how CI checks it: a failure prints the tools' own output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent          # the virtualenv's bin directory, next to its python


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / cmd[0]
    if not exe.exists():
        pytest.fail(f"{cmd[0]} is not installed next to {sys.executable} (pip install -e '.[test]')")
    return subprocess.run([str(exe), *cmd[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_import_arrows_follow_the_layers_of_pyproject() -> None:
    r = _run("lint-imports", "--no-cache", "--no-logo")
    assert r.returncode == 0, f"lint-imports failed:\n{r.stdout}\n{r.stderr}"
    assert "0 broken" in r.stdout, r.stdout


def test_ruff_passes_including_no_function_level_imports() -> None:
    r = _run("ruff", "check", "--no-cache", "ledger", "api", "oracles", "scripts", "tests")
    assert r.returncode == 0, f"ruff check failed:\n{r.stdout}\n{r.stderr}"
