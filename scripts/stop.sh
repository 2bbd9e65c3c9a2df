#!/usr/bin/env bash
# Stops what `npm run quickstart` started: API and worker first (SIGTERM; a running job
# checkpoints and goes back to the queue, which needs Redis and PostgreSQL still up), then
# Redis and PostgreSQL.
cd "$(dirname "$0")/.."
pids=()
for name in api worker; do
  pidfile=.local/$name.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    kill "$pid" && pids+=("$pid") && echo "stopping $name ($pid)"
  fi
  rm -f "$pidfile"
done
# the worker may take up to its 60 s grace period to checkpoint a running job
for _ in $(seq 1 140); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.5
done
for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && { echo "pid $pid still running after 70 s; killing it"; kill -9 "$pid"; }; done
bash scripts/services.sh stop
