#!/usr/bin/env bash
# Stops what `npm run quickstart` started: API, worker, Redis, PostgreSQL.
cd "$(dirname "$0")/.."
for name in api worker; do
  pidfile=.local/$name.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")" && echo "stopped $name"; fi
  rm -f "$pidfile"
done
bash scripts/services.sh stop
