#!/usr/bin/env bash
# The font-letters data set through the service: start it (scripts/start.sh), make the data set
# (scripts/make-font-dataset.py: needs Pillow), upload, train, probe beside the baselines, predict.
#   bash scripts/bench-datasets.sh [PER_CLASS=150] [SEED=0] [STEPS=400]
set -euo pipefail
cd "$(dirname "$0")/.."
PER_CLASS=${1:-150} SEED=${2:-0} STEPS=${3:-400}
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import PIL' 2>/dev/null || { echo "make-font-dataset.py needs Pillow: $PYTHON -m pip install pillow (or PYTHON=...)" >&2; exit 2; }
bash scripts/start.sh
export PORT=${PORT:-3000} HOST=${HOST:-127.0.0.1}
export CPC_API_KEY=$(cat .local/api-key)
DATA=.local/bench/fonts-$PER_CLASS-$SEED
rm -rf "$DATA"
"$PYTHON" scripts/make-font-dataset.py "$DATA" --per-class "$PER_CLASS" --seed "$SEED"
node --import tsx scripts/bench-datasets.ts "http://$HOST:$PORT" "$DATA" --steps "$STEPS" --seed "$SEED"
