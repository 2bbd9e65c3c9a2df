#!/usr/bin/env bash
# One run of the representation study (BENCHMARKS.md "Representations"): train a CPC encoder on the
# native backend, probe it (linear and MLP heads beside raw pixels and a random-init encoder),
# measure its code's spectrum, and print one JSON summary line.
#   bash scripts/study/run.sh NAME [PROBE_FLAGS...] -- [TRAIN_FLAGS...]
# Writes .local/study/NAME (the run), NAME.log, NAME.probe.json and NAME.spectrum.json.
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
node bin/cpc.js probe --backend "${STUDY_BACKEND:-node}" --run "$out" "${probe[@]}" --json 2>/dev/null | tail -n 1 > "$out.probe.json"
node --import tsx scripts/study/spectrum.ts "$out" 2>/dev/null | tail -n 1 > "$out.spectrum.json"
node -e '
const fs = require("node:fs");
const [out, wall] = process.argv.slice(1);
const history = fs.readFileSync(out + "/history.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l));
const { config, result } = JSON.parse(fs.readFileSync(out + "/manifest.json", "utf8"));
const probe = JSON.parse(fs.readFileSync(out + ".probe.json", "utf8"));
const spectrum = JSON.parse(fs.readFileSync(out + ".spectrum.json", "utf8"));
const r3 = (x) => Math.round(x * 1000) / 1000;
console.log(JSON.stringify({
  name: out.split("/").pop(), seed: config.seed, data: config.dataDir ?? "mnist", color: config.color, imageSize: config.imageSize,
  loss: config.loss, negatives: config.negatives, sameClassNegatives: config.sameClassNegatives, steps: result.steps,
  valid: history.map((h) => r3(h.validAccuracy)), chance: r3(result.test.chance),
  first99: history.find((h) => h.validAccuracy >= 0.99)?.step ?? null, test: r3(result.test.accuracy),
  trainSeconds: Math.round(result.seconds), wallSeconds: Number(wall),
  cpc: probe.cpc, randomEncoder: probe.randomEncoder, rawPixels: probe.rawPixels, probeImages: [probe.trainImages, probe.testImages],
  rank: spectrum.cpc.effectiveRank, randomRank: spectrum.randomEncoder.effectiveRank, separation: spectrum.cpc.classSeparation,
}));
' "$out" "$(( $(date +%s) - started ))"
