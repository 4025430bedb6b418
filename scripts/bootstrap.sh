#!/usr/bin/env bash
# Installs what CarbonLedger needs, once: a Python virtual environment from pyproject.toml and
# the pinned npm toolchain from package-lock.json (solc-js, Anvil, OpenZeppelin Contracts).
# Re-runs only when pyproject.toml or package-lock.json changed. Sourced by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

want_py="$(stamp pyproject.toml)"
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.carbonledger-stamp 2>/dev/null)" != "$want_py" ]; then
  echo "==> installing the Python environment (.venv) from pyproject.toml" >&2
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e '.[test]' >&2
  echo "$want_py" > .venv/.carbonledger-stamp
fi

want_js="$(stamp package.json package-lock.json)"
if [ ! -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || [ "$(cat node_modules/.carbonledger-stamp 2>/dev/null)" != "$want_js" ]; then
  echo "==> installing the pinned npm toolchain (solc-js, Anvil, OpenZeppelin) from package-lock.json" >&2
  # `npm install --no-save` with the committed lock (not `npm ci`): npm here records only this
  # platform's optional Anvil binary in the lock, which `npm ci` refuses as out of sync.
  npm install --no-save --no-audit --no-fund --loglevel=error >&2
  echo "$want_js" > node_modules/.carbonledger-stamp
fi
