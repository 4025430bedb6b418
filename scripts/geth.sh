#!/usr/bin/env bash
# go-ethereum v1.13.15 (the last release that still seals Clique proof-of-authority blocks; later
# releases need a beacon node), built from the Go module proxy into a cache outside the clone and
# reused by every later run, test and CI job.
#
#   scripts/geth.sh install   print the path of the geth binary on stdout, building it first
#                             (`go install github.com/ethereum/go-ethereum/cmd/geth@v1.13.15`)
#                             if the cache has none
#   scripts/geth.sh path      print the path if the cached binary is there and is v1.13.15, else exit 1
#
# Cache: ${CARBONLEDGER_CACHE:-~/.cache/carbonledger}/geth-1.13.15/bin/geth; build logs beside it
# (build-<attempt>.log) and the measured build time in build-time.txt. A lock (flock) keeps two
# concurrent callers from building twice.
#
# The build tries, in order, stopping at the first that works:
#   1. plain `go install` with the machine's Go;
#   2. -ldflags=-checklinkname=0 (Go >= 1.23 refuses github.com/fjl/memsize's old go:linkname);
#   3. the same with CGO_ENABLED=0 (pure-Go secp256k1; c-kzg is only built with its build tag);
#   4. GOTOOLCHAIN=go1.22.12 (an older Go fetched from the same module proxy), plain.
# If none builds it fails with the last lines of every attempt's log: nothing may pretend to be geth.
# Progress and errors go to stderr; only the path goes to stdout.
set -euo pipefail

# shellcheck source=scripts/service_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/service_lib.sh" geth.sh "$0 install | path"

VERSION=1.13.15
MODULE="github.com/ethereum/go-ethereum/cmd/geth@v$VERSION"
CACHE="${CARBONLEDGER_CACHE:-$HOME/.cache/carbonledger}/geth-$VERSION"
BIN="$CACHE/bin/geth"

good_binary() {
  # (the output is captured first: `geth version | grep -q` would fail under pipefail when grep
  # exits at its match and geth dies of SIGPIPE)
  local out
  [ -x "$BIN" ] && out="$("$BIN" version 2>/dev/null)" && [[ "$out" == *"Version: $VERSION-stable"* ]]
}

build() {
  # Go's own installer puts the toolchain in /usr/local/go, which a non-login shell may not have on PATH.
  command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"; } \
    || die "the Go toolchain (go) is not on PATH (nor in /usr/local/go/bin); it is needed to build geth v$VERSION"
  mkdir -p "$CACHE"
  local stage="$CACHE/stage.$$" t0 attempt name
  t0=$(date +%s)
  echo "==> building geth v$VERSION with $(go version) into $BIN (a cold build takes minutes)" >&2
  for attempt in 1 2 3 4; do
    rm -rf "$stage"
    mkdir -p "$stage"
    case $attempt in
      1) name="plain";                    ( GOBIN="$stage" go install "$MODULE" ) ;;
      2) name="checklinkname";            ( GOBIN="$stage" go install -ldflags=-checklinkname=0 "$MODULE" ) ;;
      3) name="checklinkname+nocgo";      ( GOBIN="$stage" CGO_ENABLED=0 go install -ldflags=-checklinkname=0 "$MODULE" ) ;;
      4) name="go1.22.12";                ( GOBIN="$stage" GOTOOLCHAIN=go1.22.12 go install "$MODULE" ) ;;
    esac >"$CACHE/build-$attempt.log" 2>&1 && [ -x "$stage/geth" ] && {
      mkdir -p "$CACHE/bin"
      mv -f "$stage/geth" "$BIN"
      rm -rf "$stage"
      echo "attempt $attempt ($name): built in $(( $(date +%s) - t0 )) s with $(go version)" >"$CACHE/build-time.txt"
      echo "==> geth built (attempt $attempt: $name) in $(( $(date +%s) - t0 )) s" >&2
      return 0
    }
    echo "==> build attempt $attempt ($name) failed; log: $CACHE/build-$attempt.log" >&2
  done
  rm -rf "$stage"
  for attempt in 1 2 3 4; do
    echo "---- attempt $attempt: last lines of $CACHE/build-$attempt.log" >&2
    tail -n 15 "$CACHE/build-$attempt.log" >&2 || true
  done
  die "no attempt built geth v$VERSION (errors above)"
}

cmd="${1:-}"
case "$cmd" in
  install)
    mkdir -p "$CACHE"
    exec 9>"$CACHE/build.lock"
    flock 9
    good_binary || build
    good_binary || die "$BIN was built but \`geth version\` does not report $VERSION-stable"
    echo "$BIN"
    ;;
  path)
    good_binary || exit 1
    echo "$BIN"
    ;;
  *)
    usage
    ;;
esac
