# Shared by scripts/mosquitto.sh and scripts/postgres.sh, which source it with two arguments:
# their name in messages and their usage line. Not a command of its own.
PROG="$1"
USAGE="$2"

die() { echo "$PROG: $*" >&2; exit 1; }
usage() { die "usage: $USAGE"; }

# apt_install WHAT APT-ARGS...: `apt-get install -y APT-ARGS` (Debian packages), or die saying why
# it cannot: CARBONLEDGER_NO_APT=1 forbids it, not root, or no apt-get. Progress goes to stderr.
apt_install() {
  local what="$1"
  shift
  [ "${CARBONLEDGER_NO_APT:-0}" != 1 ] || die "$what is not installed and CARBONLEDGER_NO_APT=1 forbids apt-get"
  [ "$(id -u)" = 0 ] || die "$what is not installed and this is not root: run 'apt-get install -y ${*: -1}' as root"
  command -v apt-get >/dev/null || die "$what is not installed and apt-get is missing (not a Debian/Ubuntu system)"
  echo "==> installing Debian's ${*: -1} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "$@" >&2
}

# check_port PORT: die unless PORT is 1..65535.
check_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "PORT must be 1..65535, got '$1'"
}

# parse_command "$@": sets cmd (start|stop|…) and DIR (made absolute) from the first two arguments.
parse_command() {
  cmd="${1:-}"
  [ -n "$cmd" ] || usage
  DIR="${2:-}"
  [ -n "$DIR" ] || usage
  case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
}
