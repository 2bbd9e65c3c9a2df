#!/usr/bin/env bash
# CLI demo (no service): install, train a small CPC demo on the vendored MNIST, probe it
# against the baselines, and predict a test digit. About 4-5 minutes on 2 cores (wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
RUN=${RUN:-runs/quickstart}
cpc() { node bin/cpc.js "$@"; }

echo "== training a small CPC model (grey 28x28 digits, InfoNCE loss, 300 steps) into $RUN"
cpc train --out "$RUN" --color grey --image-size 28 --grey-steps 0 --steps-per-epoch 100 --epochs 3 --validation-steps 8
node -e '
  const m = require(process.argv[1]);
  const f = m.result.final, t = m.result.test;
  console.log(`CPC validation accuracy ${f.validAccuracy.toFixed(3)} (chance ${f.chance.toFixed(2)}), test ${t.accuracy.toFixed(3)}, ${m.result.steps} steps in ${m.result.seconds.toFixed(0)} s on ${m.backend.name} x ${m.result.workers}`);
' "$PWD/$RUN/manifest.json"

echo "== probing the frozen encoder (MLP and linear heads) beside raw pixels and a random-init encoder"
cpc probe --run "$RUN" --train-images 3000 --test-images 1000 --epochs 5 --json > "$RUN/probe.json"
node --import tsx --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { probeVerdict } from "./src/cpc/probe.ts";
  const r = JSON.parse(readFileSync(process.argv[1], "utf8"));
  const row = (k, s) => console.log(`  ${k.padEnd(16)} mlp ${s.mlp.toFixed(3)}  linear ${s.linear.toFixed(3)}`);
  console.log(`probe test accuracy (${r.testImages} test images):`);
  row("CPC encoder", r.cpc); row("random encoder", r.randomEncoder); row("raw pixels", r.rawPixels);
  console.log(probeVerdict(r));
' "$PWD/$RUN/probe.json"

echo "== predicting test image #0"
cpc data digit --split test --index 0 --out "$RUN/test-digit-0.png"
cpc predict --run "$RUN" "$RUN/test-digit-0.png" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const p = JSON.parse(s);
    console.log(`predicted class ${p.className} (p = ${Math.max(...p.probabilities).toFixed(3)}) for ${p.file}`);
  });'
