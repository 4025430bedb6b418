#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local runs, from Debian's packages.
#
#   scripts/postgres.sh start DIR PORT   initdb (once) a cluster in DIR/data, start it on
#                                        127.0.0.1:PORT only (trust auth: local tests only),
#                                        create the database `carbonledger`, and print its
#                                        SQLAlchemy URL on stdout:
#                                        postgresql+psycopg://postgres@127.0.0.1:PORT/carbonledger
#   scripts/postgres.sh stop DIR         stop the cluster in DIR (nothing if it is not running)
#
# If Debian's pg_ctl (/usr/lib/postgresql/*/bin) is missing it runs
# `apt-get update && apt-get install -y postgresql` (needs root; CI runs as root with apt access;
# CARBONLEDGER_NO_APT=1 forbids it).
# initdb refuses to run as root, so as root the cluster is owned by and run as the `postgres` OS
# user (created by the Debian package); DIR must then be reachable by that user (e.g. under /tmp).
# Progress and errors go to stderr; only the URL goes to stdout. The server log is DIR/postgres.log.
set -euo pipefail

# shellcheck source=scripts/service_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/service_lib.sh" postgres.sh "$0 start DIR PORT | stop DIR"

pg_bindir() {
  # Highest installed major version of Debian's postgresql.
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

# Run a command as the cluster's owner: the `postgres` OS user when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" != 0 ]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u postgres -- "$@"
  else
    su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
  fi
}

running() { as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

parse_command "$@"
DATA="$DIR/data"
LOG="$DIR/postgres.log"

case "$cmd" in
  start)
    PORT="${3:-}"
    check_port "$PORT"
    BIN="$(pg_bindir)"
    if [ -z "$BIN" ]; then
      apt_install PostgreSQL postgresql
      BIN="$(pg_bindir)"
      [ -n "$BIN" ] || die "apt-get installed postgresql but no pg_ctl under /usr/lib/postgresql/*/bin"
    fi
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || die "the 'postgres' OS user is missing (it comes with Debian's postgresql package)"
      chown postgres: "$DIR"
      chmod 0700 "$DIR"
      as_owner test -w "$DIR" || die "the postgres OS user cannot write $DIR: a parent directory is not searchable by it (use a directory under /tmp)"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      echo "==> initdb $DATA ($("$BIN/pg_ctl" --version))" >&2
      as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
      # TCP on the loopback only; no Unix socket (Debian's default socket directory
      # /var/run/postgresql may not exist, and the cluster is reached by URL anyway).
      as_owner sh -c "printf '%s\n' \"listen_addresses = '127.0.0.1'\" \"unix_socket_directories = ''\" >> '$DATA/postgresql.conf'"
    fi
    if running; then
      have="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
      [ "$have" = "$PORT" ] || die "the cluster in $DIR is already running on port ${have:-?}, not $PORT"
    else
      as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 -o "-p $PORT" start >/dev/null \
        || { tail -n 20 "$LOG" >&2 2>/dev/null || true; die "the server did not start on 127.0.0.1:$PORT (log: $LOG)"; }
    fi
    exists="$("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -XtAc \
      "SELECT 1 FROM pg_database WHERE datname = 'carbonledger'")" || die "cannot connect to 127.0.0.1:$PORT"
    if [ "$exists" != 1 ]; then
      "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres carbonledger || die "createdb carbonledger failed"
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/carbonledger"
    ;;
  stop)
    [ -f "$DATA/PG_VERSION" ] || exit 0
    BIN="$(pg_bindir)"
    [ -n "$BIN" ] || die "no pg_ctl under /usr/lib/postgresql/*/bin"
    if running; then
      as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed (log: $LOG)"
    fi
    ;;
  *)
    usage
    ;;
esac
