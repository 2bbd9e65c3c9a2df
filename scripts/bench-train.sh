#!/usr/bin/env bash
# Training-step throughput, side by side in one run: this engine (wasm, 2 and 1
# workers) and, where PyTorch is installed (Debian: python3-torch), the PyTorch peer.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-10}
for w in 2 1; do
  node bin/cpc.js bench train --backend wasm --image-size 64 --batch-size 32 --steps "$STEPS" --workers "$w" --json
done
PEER=../shared/peer/ref_cpc_torch.py
if [ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for t in 2 1; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$PEER" ../shared/datasets/mnist --bench --threads "$t"
  done
else
  echo '{"peer":"pytorch","skipped":"python3-torch or the peer script is not available"}'
fi
