#!/usr/bin/env bash
# A private MQTT broker for tests and local runs, from Debian's `mosquitto` package.
#
#   scripts/mosquitto.sh start DIR [PORT]   write DIR/mosquitto.conf (listener on 127.0.0.1:PORT
#                                           only, anonymous access: local use only, on-disk
#                                           persistence of QoS 1 sessions in DIR), start the
#                                           broker in the background and print the port on
#                                           stdout (a free port is chosen when PORT is omitted)
#   scripts/mosquitto.sh stop DIR           stop the broker of DIR (nothing if it is not running)
#
# If /usr/sbin/mosquitto is missing it runs `apt-get install -y mosquitto` (needs root and apt;
# set CARBONLEDGER_NO_APT=1 to forbid it). As root the broker keeps running as root (`user root`)
# so that DIR may be any directory. Progress and errors go to stderr; the log is DIR/mosquitto.log.
set -euo pipefail

# shellcheck source=scripts/service_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/service_lib.sh" mosquitto.sh "$0 start DIR [PORT] | stop DIR"

find_broker() {
  local b
  for b in /usr/sbin/mosquitto "$(command -v mosquitto 2>/dev/null || true)"; do
    if [ -n "$b" ] && [ -x "$b" ]; then echo "$b"; return; fi
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

parse_command "$@"
PIDFILE="$DIR/mosquitto.pid"
CONF="$DIR/mosquitto.conf"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$cmd" in
  start)
    PORT="${3:-}"
    if running; then
      have="$(sed -n 's/^listener \([0-9]*\) .*/\1/p' "$CONF")"
      [ -z "$PORT" ] || [ "$have" = "$PORT" ] || die "the broker in $DIR already runs on port $have, not $PORT"
      echo "$have"
      exit 0
    fi
    [ -n "$PORT" ] || PORT="$(free_port)"
    check_port "$PORT"
    BIN="$(find_broker)"
    if [ -z "$BIN" ]; then
      apt_install mosquitto --no-install-recommends mosquitto
      BIN="$(find_broker)"
      [ -n "$BIN" ] || die "apt-get installed mosquitto but /usr/sbin/mosquitto is missing"
    fi
    mkdir -p "$DIR"
    {
      echo "listener $PORT 127.0.0.1"
      echo "allow_anonymous true"
      echo "persistence true"
      echo "persistence_location $DIR/"
      echo "autosave_interval 1"
      echo "max_queued_messages 100000"
      echo "max_inflight_messages 100"
      echo "pid_file $PIDFILE"
      echo "log_dest file $DIR/mosquitto.log"
      if [ "$(id -u)" = 0 ]; then echo "user root"; fi
    } > "$CONF"
    rm -f "$PIDFILE"
    "$BIN" -c "$CONF" -d || die "mosquitto did not start (log: $DIR/mosquitto.log)"
    for _ in $(seq 1 100); do
      if listening "$PORT"; then echo "$PORT"; exit 0; fi
      sleep 0.1
    done
    tail -n 20 "$DIR/mosquitto.log" >&2 2>/dev/null || true
    die "the broker did not listen on 127.0.0.1:$PORT (log: $DIR/mosquitto.log)"
    ;;
  stop)
    if running; then
      pid="$(cat "$PIDFILE")"
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && die "mosquitto ($pid) did not stop"
    fi
    rm -f "$PIDFILE"
    ;;
  *)
    usage
    ;;
esac
