#!/usr/bin/env bash
# Local Redis and PostgreSQL from this machine's binaries, in a project-local
# data directory, on free loopback ports. No Docker.
#
#   scripts/services.sh start   # install missing Debian packages, init, start; prints the env
#   scripts/services.sh env     # print DATABASE_URL / REDIS_URL exports for running services
#   scripts/services.sh restart-postgres  # restart PostgreSQL in place (fault tests)
#   scripts/services.sh stop    # stop both
#   scripts/services.sh reset   # stop and delete the data directory
#
# CPC_LOCAL_DIR chooses the data directory (default: .local in the project).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${CPC_LOCAL_DIR:-$ROOT/.local}
# (absolute: redis-server resolves its log file after it has changed into its --dir)
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd)
PG_DIR=$DIR/postgres
REDIS_DIR=$DIR/redis
ENV_FILE=$DIR/services.env

log() { echo "services: $*" >&2; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# the port saved in $1 if it is still free, else a new free one (saved there)
saved_port() {
  local port=""
  [ -f "$1" ] && port=$(cat "$1")
  if [ -z "$port" ] || ! node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(+process.argv[1],"127.0.0.1",()=>s.close())' "$port" 2>/dev/null; then
    port=$(free_port)
  fi
  echo "$port" > "$1"
  echo "$port"
}

pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$found" ] && [ -x "$found/$name" ] && { echo "$found/$name"; return; }
  return 1
}

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then log "missing $*; install them (apt-get install $*)"; exit 1; fi
  log "installing $* from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

ensure_binaries() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  pg_bin initdb >/dev/null || apt_install postgresql
  # the Debian packages start their own system instances; we do not use them
  if [ -d /run/systemd/system ]; then systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true; fi
}

# PostgreSQL refuses to run as root: run it as the 'postgres' system user (or create one)
as_pg() {
  if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  runuser -u postgres -- "$@"
}

running_pid() { # pidfile -> pid if alive
  [ -f "$1" ] || return 1
  local pid
  pid=$(head -n 1 "$1")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_postgres() {
  local initdb pg_ctl port
  initdb=$(pg_bin initdb); pg_ctl=$(pg_bin pg_ctl)
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    as_pg true
    chmod a+x "$DIR" # the postgres user must be able to traverse to its data
    chown -R postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PG_DIR/data"
    as_pg "$initdb" -D "$PG_DIR/data" -U cpc -A trust -E UTF8 --no-locale >/dev/null
  fi
  if running_pid "$PG_DIR/data/postmaster.pid" >/dev/null; then
    port=$(sed -n 4p "$PG_DIR/data/postmaster.pid")
  else
    # a restart keeps the port while it is free, so clients reconnect to the same address
    port=$(saved_port "$PG_DIR/port")
    as_pg "$pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=on" start >/dev/null
  fi
  for _ in $(seq 1 50); do
    if psql -h 127.0.0.1 -p "$port" -U cpc -d postgres -Atqc 'select 1' >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  psql -h 127.0.0.1 -p "$port" -U cpc -d postgres -Atqc "select 1 from pg_database where datname='cpc'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$port" -U cpc -d postgres -qc 'create database cpc' >/dev/null
  echo "$port"
}

start_redis() {
  local port
  mkdir -p "$REDIS_DIR"
  if running_pid "$REDIS_DIR/redis.pid" >/dev/null && [ -f "$REDIS_DIR/port" ]; then
    cat "$REDIS_DIR/port"; return
  fi
  # a restart keeps the port while it is free, so clients reconnect to the same address
  port=$(saved_port "$REDIS_DIR/port")
  redis-server --bind 127.0.0.1 --port "$port" --dir "$REDIS_DIR" --daemonize yes \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --save "" >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    log "redis did not start on port $port; see $REDIS_DIR/redis.log"
    exit 1
  fi
  echo "$port"
}

write_env() {
  mkdir -p "$DIR"
  cat > "$ENV_FILE" <<ENV
export DATABASE_URL=postgresql://cpc@127.0.0.1:$1/cpc
export REDIS_URL=redis://127.0.0.1:$2
ENV
  cat "$ENV_FILE"
}

stop_all() {
  local pid
  if pid=$(running_pid "$REDIS_DIR/redis.pid"); then kill "$pid"; log "stopped redis ($pid)"; fi
  if running_pid "$PG_DIR/data/postmaster.pid" >/dev/null; then
    as_pg "$(pg_bin pg_ctl)" -D "$PG_DIR/data" -m fast -w stop >/dev/null && log "stopped postgres"
  fi
}

case "${1:-}" in
  start)
    ensure_binaries
    pg_port=$(start_postgres)
    redis_port=$(start_redis)
    write_env "$pg_port" "$redis_port"
    ;;
  env) cat "$ENV_FILE" ;;
  restart-postgres) # same port and options (pg_ctl reuses them); for fault tests
    as_pg "$(pg_bin pg_ctl)" -D "$PG_DIR/data" -m fast -w -t 60 restart >/dev/null && log "restarted postgres" ;;
  stop) stop_all ;;
  reset) stop_all; rm -rf "$DIR"; log "removed $DIR" ;;
  *) echo "usage: $0 start|env|restart-postgres|stop|reset" >&2; exit 2 ;;
esac
