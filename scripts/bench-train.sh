#!/usr/bin/env bash
# Training-step throughput side by side in one run, alternating ROUNDS times
# (machines are noisy: compare within a round): this engine on the native
# backend (tfjs-node, when it loads) and on wasm (2 and 1 data-parallel
# workers), and the PyTorch peer (../shared/peer, current PyTorch via its
# python.sh) with 2 and 1 threads. The seed step: 64x64 colour, batch 32 x 8
# images. One JSON line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-1}
PEER_DIR=../shared/peer
py=""
if [ -f "$PEER_DIR/python.sh" ]; then py=$(bash "$PEER_DIR/python.sh" 2>/dev/null || true); fi
native=no
node -e "require('@tensorflow/tfjs-node')" 2>/dev/null && native=yes
quiet() { grep -v '^I0000\|^WARNING: All log\|cpu_feature_guard\|rebuild TensorFlow' || true; }
for round in $(seq 1 "$ROUNDS"); do
  if [ "$native" = yes ]; then
    node bin/cpc.js bench train --backend node --threads 2 --image-size 64 --batch-size 32 --steps "$STEPS" --json 2>/dev/null | quiet
  else
    echo '{"backend":"tensorflow","skipped":"@tensorflow/tfjs-node does not load (bash ../shared/native-tf/install.sh .)"}'
  fi
  for w in 2 1; do
    node bin/cpc.js bench train --backend wasm --image-size 64 --batch-size 32 --steps "$STEPS" --workers "$w" --json
  done
  if [ -n "$py" ]; then
    for t in 2 1; do
      "$py" "$PEER_DIR/ref_cpc_torch.py" ../shared/datasets/mnist --bench --threads "$t"
    done
  else
    echo '{"peer":"pytorch","skipped":"../shared/peer/python.sh is not available"}'
  fi
done
