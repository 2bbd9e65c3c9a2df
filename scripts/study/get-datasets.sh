#!/usr/bin/env bash
# The data sets of the representation study (BENCHMARKS.md "Representations"), beside the
# vendored MNIST, under .local/datasets/:
#  - fashion-mnist: Zalando's Fashion-MNIST from Debian's `dataset-fashion-mnist` package (MIT;
#    the four IDX files as packaged, and the class names; "T-shirt/top" becomes "T-shirt-top");
#  - fonts-png: the letters A-Z drawn from this machine's fonts (scripts/make-font-dataset.py, needs
#    Pillow), 600 per letter, 28x28, seed 0.
#   bash scripts/study/get-datasets.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${STUDY_DATASETS:-.local/datasets}
mkdir -p "$out"
if [ ! -f "$out/fashion-mnist/dataset.json" ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download dataset-fashion-mnist >/dev/null)
  dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$work/x"
  mkdir -p "$out/fashion-mnist"
  cp "$work"/x/usr/share/datasets/fashion-mnist/*-ubyte.gz "$out/fashion-mnist/"
  echo '{"classNames": ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]}' \
    > "$out/fashion-mnist/dataset.json"
  echo "fashion-mnist: $(ls "$out/fashion-mnist" | tr '\n' ' ')"
fi
if [ ! -d "$out/fonts-png" ]; then
  python3 -c 'import PIL' 2>/dev/null || { echo "make-font-dataset.py needs Pillow: python3 -m pip install --user pillow" >&2; exit 2; }
  python3 scripts/make-font-dataset.py "$out/fonts-png" --per-class 600 --seed 0 --side 28
fi
