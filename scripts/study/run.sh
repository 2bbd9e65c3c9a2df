#!/usr/bin/env bash
# One run of the representation study (BENCHMARKS.md "Representations"): train a CPC encoder on the
# native backend, probe it (linear and MLP heads beside raw pixels and a random-init encoder),
# measure its code's spectrum and its contrastive task from several sides, and print one JSON
# summary line.
#   bash scripts/study/run.sh NAME [PROBE_FLAGS... | none] -- [TRAIN_FLAGS...]   (none: train only)
# Writes .local/study/NAME (the run), NAME.log, NAME.probe.json, NAME.spectrum.json and NAME.contrastive.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1; shift
probe=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do probe+=("$1"); shift; done
[ $# -gt 0 ] && shift
out=.local/study/$name
mkdir -p .local/study && rm -rf "$out"
started=$(date +%s)
node bin/cpc.js train --backend "${STUDY_BACKEND:-node}" --out "$out" "$@" --json > "$out.log" 2>&1 || { echo "train failed: $out.log" >&2; exit 1; }
if [ "${probe[*]}" = none ]; then
  echo '{}' > "$out.probe.json"; echo '{"cpc": {}, "randomEncoder": {}}' > "$out.spectrum.json"
else
  node bin/cpc.js probe --backend "${STUDY_BACKEND:-node}" --run "$out" "${probe[@]}" --json 2>/dev/null | tail -n 1 > "$out.probe.json"
  node --import tsx scripts/study/spectrum.ts "$out" 2>/dev/null | tail -n 1 > "$out.spectrum.json"
fi
node --import tsx scripts/study/contrastive.ts "$out" 2>/dev/null | tail -n 1 > "$out.contrastive.json"
node --import tsx scripts/study/summarize.ts "$out" "$(( $(date +%s) - started ))"
