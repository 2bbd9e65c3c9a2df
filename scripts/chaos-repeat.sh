#!/usr/bin/env bash
# The chaos run, N times in a row (CHAOS_SEED 1..N, so each run has its own fault schedule).
# After each run it also looks for any process the run left behind (a worker, a sandbox child,
# an esbuild helper) anywhere on the machine. Prints one JSON line per run and a total; exits
# non-zero if any run failed or left a process.
#   bash scripts/chaos-repeat.sh [N]        (reports and logs in .local/chaos-repeat/)
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
OUT=${CHAOS_OUT:-.local/chaos-repeat}
mkdir -p "$OUT"
ROOT=$PWD

# live (not zombie) processes started from this checkout: workers, sandbox children, helpers
leftovers() {
  for d in /proc/[0-9]*; do
    local pid=${d#/proc/}
    [ "$pid" = "$$" ] && continue
    local state cmd
    state=$(awk '{print $3}' "$d/stat" 2>/dev/null) || continue
    [ "$state" = Z ] && continue
    cmd=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      *"$ROOT"/node_modules/bullmq/*|*"$ROOT"/src/worker.ts*|*"$ROOT"/node_modules/@esbuild/*) echo "$pid: ${cmd:0:160}" ;;
    esac
  done
}

failed=0
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  CHAOS_SEED=$i CHAOS_REPORT="$OUT/run-$i.json" npx vitest run --config vitest.chaos.config.ts test/chaos/chaos.test.ts > "$OUT/run-$i.log" 2>&1
  status=$?
  sleep 2 # a just-killed process may still be exiting
  left=$(leftovers)
  nleft=$(printf '%s' "$left" | grep -c . || true)
  report=$(cat "$OUT/run-$i.json" 2>/dev/null || echo '{}')
  node -e '
    const [i, status, secs, nleft] = process.argv.slice(1).map(Number);
    const r = JSON.parse(process.argv[5]);
    console.log(JSON.stringify({ run: i, seed: r.seed ?? i, passed: status === 0, seconds: secs, faults: r.faults, lost: r.lost, duplicatedJobRows: r.duplicatedJobRows, identicalResults: r.identicalResults, violations: r.violations?.length, processesLeftAfterRun: nleft }));
  ' "$i" "$status" "$(( $(date +%s) - start ))" "$nleft" "$report"
  if [ "$status" -ne 0 ] || [ "$nleft" -ne 0 ]; then
    failed=$((failed + 1))
    [ -n "$left" ] && echo "left behind: $left" >&2
    [ "$status" -ne 0 ] && grep -E "FAIL|Error|expected" "$OUT/run-$i.log" | head -n 5 >&2
  fi
done
echo "chaos-repeat: $N runs, $failed failed or left a process"
[ "$failed" -eq 0 ]
