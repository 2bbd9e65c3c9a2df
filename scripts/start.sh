#!/usr/bin/env bash
# Start the service on this machine without training anything: install if
# needed, start local Redis + PostgreSQL, migrate, make an admin API key once
# (.local/api-key), start the API and one worker (restarting them if they run)
# and wait until the API is ready. `npm run quickstart` does this and then
# trains a demo; `npm run stop` stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent generate >/dev/null 2>&1
# the dashboard the API serves at / (src/dashboard -> dist/dashboard)
npm run --silent build:dashboard >/dev/null
eval "$(bash scripts/services.sh start)"
export DATABASE_URL REDIS_URL
export PORT=${PORT:-3000} HOST=${HOST:-127.0.0.1} ARTIFACT_DIR=${ARTIFACT_DIR:-$PWD/.local/artifacts} LOG_LEVEL=${LOG_LEVEL:-info}
mkdir -p .local/logs
# an admin API key for this machine (kept in .local, made once; only its hash is in Postgres)
if [ ! -s .local/api-key ]; then
  (umask 077; node bin/cpc.js keys create --name quickstart --scopes admin > .local/api-key)
fi
start() { # name, entry
  local pidfile=.local/$1.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    # wait for it to exit (a running job checkpoints first)
    for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
  fi
  nohup node --import tsx "$2" >> ".local/logs/$1.log" 2>&1 &
  echo $! > "$pidfile"
}
start api src/server.ts
start worker src/worker.ts
URL="http://$HOST:$PORT"
for _ in $(seq 1 120); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "$URL/readyz" >/dev/null || { echo "the API did not become ready; see .local/logs/api.log" >&2; exit 1; }
echo "cpc-service is running at $URL (OpenAPI docs: $URL/docs; logs: .local/logs/)." >&2
