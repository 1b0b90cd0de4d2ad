#!/usr/bin/env bash
# Throwaway PostgreSQL / MariaDB / Redis servers on 127.0.0.1 for the test suite.
#
#   bash tests/servers.sh start DIR   # start what it can, write DIR/env
#   bash tests/servers.sh stop DIR    # stop everything started from DIR
#
# DIR/env only exports URLs for servers that really came up, so tests that
# need a missing server can skip instead of failing.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
log() { echo "servers.sh: $*" >&2; }
# Say which command failed; a plain `return 1` was already explained by its caller.
trap 'rc=$?; [[ $BASH_COMMAND == return* ]] || log "error: line $LINENO: $BASH_COMMAND (exit $rc)"' ERR
usage() { echo "usage: bash $0 start|stop DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
CMD=$1
[ "$CMD" = stop ] && [ ! -d "$2" ] && exit 0
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
ME=$(id -un)
WAIT=60

# Prefer the fixed port for predictability, fall back to any free one.
free_port() {
  python3 - "$1" <<'EOF' 2>/dev/null || echo "$1"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

# Only install when we can do so non-interactively; otherwise just report.
APT_UPDATED=0
ensure() {  # ensure PACKAGE BINARY...
  local pkg=$1; shift
  local b missing=0
  for b in "$@"; do [ -x "$b" ] || command -v "$b" >/dev/null || missing=1; done
  [ $missing = 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "$pkg missing and cannot install it (needs root + apt-get); skipping"
    return 1
  fi
  # A package postinst would otherwise try to start the system-wide daemon.
  local policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d; policy=1
  fi
  [ $APT_UPDATED = 1 ] || { apt-get update -qq >&2 && APT_UPDATED=1; } || true
  log "installing $pkg"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 || rc=$?
  [ $policy = 0 ] || rm -f /usr/sbin/policy-rc.d
  return $rc
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
# initdb/postgres refuse to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_pg() {
  local d=$DIR/pg bin port i
  ensure postgresql psql "$(pg_bin)/initdb" || return 1
  bin=$(pg_bin)
  port=$(free_port 55432)
  mkdir -p "$d"
  echo fse >"$d/pwfile"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$d"
    as_pg test -x "$d" || { log "postgres user cannot reach $d (check parent dir permissions)"; return 1; }
  fi
  as_pg "$bin/initdb" -D "$d/data" -U fse --pwfile="$d/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log" >&2; return 1; }
  # No unix socket: avoids socket path-length limits and /var/run permissions.
  # Durability is pointless for throwaway data and costs time.
  cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  as_pg "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t $WAIT start >/dev/null \
    || { tail -n 20 "$d/server.log" >&2; return 1; }
  echo "$bin" >"$d/bin"
  for i in $(seq $WAIT); do
    PGPASSWORD=fse psql -qAt -h 127.0.0.1 -p "$port" -U fse -d postgres -c 'select 1' >/dev/null 2>&1 && break
    sleep 1
  done
  PGPASSWORD=fse psql -q -h 127.0.0.1 -p "$port" -U fse -d postgres -c 'CREATE DATABASE fse_test' >&2
  echo "postgresql+psycopg2://fse:fse@127.0.0.1:$port/fse_test" >"$d/url"
}

start_mariadb() {
  local d=$DIR/mariadb port i server
  ensure mariadb-server mariadb-install-db mariadb-admin || return 1
  server=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n1)
  port=$(free_port 53306)
  mkdir -p "$d"
  # --no-defaults keeps the machine's /etc/mysql config (and its datadir) out of it.
  mariadb-install-db --no-defaults --datadir="$d/data" --user="$ME" --skip-test-db \
    --auth-root-authentication-method=socket >"$d/install.log" 2>&1 || { cat "$d/install.log" >&2; return 1; }
  setsid nohup "$server" --no-defaults --user="$ME" --datadir="$d/data" --socket="$d/sock" \
    --port="$port" --bind-address=127.0.0.1 --pid-file="$d/pid" --log-error="$d/server.log" \
    --skip-name-resolve --innodb-flush-log-at-trx-commit=0 --skip-log-bin \
    </dev/null >/dev/null 2>&1 &
  for i in $(seq $WAIT); do
    mariadb-admin --no-defaults -S "$d/sock" -u "$ME" ping >/dev/null 2>&1 && break
    sleep 1
  done
  mariadb-admin --no-defaults -S "$d/sock" -u "$ME" ping >/dev/null 2>&1 \
    || { log "mariadb did not come up"; tail -n 20 "$d/server.log" >&2; return 1; }
  # Local socket auth as the OS user (unix_socket plugin) bootstraps the test user.
  mariadb --no-defaults -S "$d/sock" -u "$ME" <<'EOF'
CREATE DATABASE fse_test;
CREATE USER 'fse'@'127.0.0.1' IDENTIFIED BY 'fse';
CREATE USER 'fse'@'localhost' IDENTIFIED BY 'fse';
GRANT ALL PRIVILEGES ON *.* TO 'fse'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'fse'@'localhost' WITH GRANT OPTION;
EOF
  echo "mysql+pymysql://fse:fse@127.0.0.1:$port/fse_test" >"$d/url"
}

start_redis() {
  local d=$DIR/redis port i
  ensure redis-server redis-server redis-cli || return 1
  port=$(free_port 56379)
  mkdir -p "$d"
  echo "$port" >"$d/port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$d/pid" --dir "$d" --logfile "$d/server.log" >&2
  for i in $(seq $WAIT); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 1
  done
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || { tail -n 20 "$d/server.log" >&2; return 1; }
  echo "redis://127.0.0.1:$port/0" >"$d/url"
}

# Zombies count as dead: without a reaping init they linger after exit.
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }

# Fall back to killing by pid file if the polite shutdown did not work.
kill_pidfile() {
  local pid i
  [ -s "$1" ] || return 0
  pid=$(head -n1 "$1")
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 30); do alive "$pid" || return 0; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop_all() {
  local bin
  if [ -f "$DIR/pg/data/postmaster.pid" ]; then
    bin=$(cat "$DIR/pg/bin" 2>/dev/null || pg_bin)
    as_pg "$bin/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 \
      || kill_pidfile "$DIR/pg/data/postmaster.pid"
  fi
  if [ -S "$DIR/mariadb/sock" ]; then
    mariadb-admin --no-defaults -S "$DIR/mariadb/sock" -u "$ME" shutdown >/dev/null 2>&1 || true
  fi
  kill_pidfile "$DIR/mariadb/pid"
  if [ -f "$DIR/redis/port" ]; then
    redis-cli -p "$(cat "$DIR/redis/port")" shutdown nosave >/dev/null 2>&1 || true
  fi
  kill_pidfile "$DIR/redis/pid"
  rm -f "$DIR/env" "$DIR"/*/url
}

case $CMD in
  start)
    # A second start restarts from scratch rather than guessing at old state.
    stop_all || true
    rm -rf "$DIR/pg" "$DIR/mariadb" "$DIR/redis"
    # mktemp -d gives 0700; the postgres user must be able to get in.
    chmod 755 "$DIR"
    : >"$DIR/env"
    for s in pg mariadb redis; do
      t0=$(date +%s.%N)
      # A child process so that set -e applies inside (it is ignored in `if f`).
      if bash "$SELF" "_$s" "$DIR"; then
        var=$(case $s in pg) echo POSTGRES;; mariadb) echo MARIADB;; redis) echo REDIS;; esac)
        echo "export SESSION_EPOCH_TEST_${var}_URL=$(cat "$DIR/$s/url")" >>"$DIR/env"
        log "$s up in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s: $(cat "$DIR/$s/url")"
      else
        log "$s NOT started (see $DIR/$s/*.log)"
      fi
    done
    log "wrote $DIR/env"
    ;;
  stop) stop_all 2>/dev/null || true ;;
  _pg) start_pg ;;
  _mariadb) start_mariadb ;;
  _redis) start_redis ;;
  *) usage ;;
esac
