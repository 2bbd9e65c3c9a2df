#!/usr/bin/env bash
# Training-step throughput side by side in one run, alternating ROUNDS times
# (machines are noisy: compare within a round): this engine on the native
# backend (tfjs-node, when it loads) and on wasm (2 and 1 data-parallel
# workers), and the PyTorch peer (../shared/peer, current PyTorch via its
# python.sh) with 2 and 1 threads. The seed step: 64x64 colour, batch 32 x 8
# images. One JSON line per measurement.
#
# Native TensorFlow and PyTorch run twice: with glibc's default allocator
# settings and with its mmap threshold raised (MALLOC_* below; "malloc":
# "tuned" in the output). On these VMs a page fault is expensive, and
# PyTorch's CPU allocator hands large blocks back to the kernel every step:
# it runs ~9x slower untuned (2026-11-30). The wasm backend allocates inside
# its own heap and is measured once.
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
tag() { sed "s/}\$/,\"malloc\":\"$1\"}/"; }
TUNED=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=1073741824)
for round in $(seq 1 "$ROUNDS"); do
  for malloc in default tuned; do
    settings=(); [ "$malloc" = tuned ] && settings=("${TUNED[@]}")
    if [ "$native" = yes ]; then
      env "${settings[@]}" node bin/cpc.js bench train --backend node --threads 2 --image-size 64 --batch-size 32 --steps "$STEPS" --json 2>/dev/null | quiet | tag "$malloc"
    else
      echo '{"backend":"tensorflow","skipped":"@tensorflow/tfjs-node does not load (bash ../shared/native-tf/install.sh .)"}'
    fi
    if [ -n "$py" ]; then
      for t in 2 1; do
        env "${settings[@]}" "$py" "$PEER_DIR/ref_cpc_torch.py" ../shared/datasets/mnist --bench --threads "$t" | tag "$malloc"
      done
    else
      echo '{"peer":"pytorch","skipped":"../shared/peer/python.sh is not available"}'
    fi
  done
  for w in 2 1; do
    node bin/cpc.js bench train --backend wasm --image-size 64 --batch-size 32 --steps "$STEPS" --workers "$w" --json
  done
done
