#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs pytest (contracts against a real Anvil
# started by the test session). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
