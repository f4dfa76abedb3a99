#!/usr/bin/env bash
# Table 1 of Gallego-Posada et al. (2021) on real MNIST with saddle train's defaults (200
# epochs, batch 128, Adam 7e-4, the default dual update of docs/formulations.md, log_alpha >=
# ln 1e-3, the last 5 % of the epochs under fixed gates), 3 seeds per
# row, two runs at a time (one core each). One `saddle sweep` per row, in OUT_DIR/<row>/
# (sweep.md and sweep.csv: final test error and expected density, mean +- 95 % CI; one run
# folder per seed with summary.json and metrics.jsonl). Running the script again resumes:
# finished runs are kept, unfinished ones continue from their checkpoints (LeNet5 runs take
# about an hour each on one core, so a long table may span several sittings).
#
# Rows (ROWS selects some, space-separated):
#   mlp-model    MLP 784-300-100, model density <= 0.33
#   mlp-layer    MLP, every layer <= 0.3
#   lenet-model  LeNet5-Caffe 20-50-800-500, model density <= 0.1
#   lenet-layer  LeNet5, layers <= 0.5 / 0.3 / 0.7 / 0.1
#
# Usage: scripts/table1.sh [OUT_DIR]       (default: runs/table1)
# Environment: BUILD_DIR (build/), DATA_DIR (data/mnist), SEEDS (1,2,3), JOBS (2),
#   ROWS ("mlp-model mlp-layer lenet-model lenet-layer"); extra saddle options in EXTRA
#   (word-split), e.g. EXTRA="--paper-protocol" for the paper's own protocol.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/runs/table1}
exe=${BUILD_DIR:-$root/build}/saddle
[[ -x $exe ]] || { echo "table1: $exe not built; run scripts/build.sh" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1
read -r -a extra <<<"${EXTRA:-}"

row_args() {
  case $1 in
    mlp-model) echo "--model mlp --target-densities 0.33" ;;
    mlp-layer) echo "--model mlp --layer-densities 0.3,0.3,0.3" ;;
    lenet-model) echo "--model lenet5 --target-densities 0.1" ;;
    lenet-layer) echo "--model lenet5 --layer-densities 0.5,0.3,0.7,0.1" ;;
    *) echo "table1: unknown row '$1' (mlp-model | mlp-layer | lenet-model | lenet-layer)" >&2; return 2 ;;
  esac
}

for row in ${ROWS:-mlp-model mlp-layer lenet-model lenet-layer}; do
  spec=$(row_args "$row")
  # shellcheck disable=SC2206
  args=(sweep $spec --data-dir "${DATA_DIR:-$root/data/mnist}" --epochs 200
    --seeds "${SEEDS:-1,2,3}" --jobs "${JOBS:-2}" --out "$out/$row" "${extra[@]+"${extra[@]}"}")
  echo "table1: $row: saddle ${args[*]}"
  if [[ -f $out/$row/experiment.txt ]]; then
    "$exe" "${args[@]}" --resume
  else
    "$exe" "${args[@]}"
  fi
done
for row in ${ROWS:-mlp-model mlp-layer lenet-model lenet-layer}; do
  echo "== $row"
  cat "$out/$row/sweep.md"
done
