#!/usr/bin/env bash
# The main job on the embedded chain: installs what it needs, then runs `carbonledger demo`
# (default: the calendar year 2007 of the real UCI meter data) and serves the API until Ctrl-C.
# Extra arguments go to `carbonledger demo` (e.g. --no-serve, --start 2007-04-28 --end 2007-05-01).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/carbonledger demo "$@"
