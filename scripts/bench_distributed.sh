#!/usr/bin/env bash
# Data-parallel training speed on this machine, one run, interleaved configurations:
#   1x1  one process, OpenBLAS 1 thread
#   1x2  one process, OpenBLAS 2 threads
#   2x1  mpirun -np 2, OpenBLAS 1 thread per rank (DataParallelProblem over MPI)
# for the MLP and LeNet5 at global batch 128, ROUNDS rounds (default 3); then the step time
# of one process at smaller batches (for the cluster model of docs/distributed.md).
# Prints a Markdown table of the median ms/step, s/epoch (469 steps) and ratios to 1x1.
#
# Usage: scripts/bench_distributed.sh [BUILD_DIR]   (default build/; needs real MNIST in
#        data/mnist or $SADDLE_MNIST_DIR, and a build with MPI for the 2x1 rows)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
bench=$build/benchmarks/saddle_bench_distributed
rounds=${ROUNDS:-3}
steps=${STEPS:-100}
[[ -x $bench ]] || { echo "bench_distributed: $bench not built (scripts/build.sh)" >&2; exit 1; }
launcher=$(command -v mpirun || command -v mpiexec || true)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
  OMPI_MCA_btl_vader_single_copy_mechanism=none
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "bench_distributed: $rounds rounds of 1x1, 1x2, 2x1 (MLP steps $steps, LeNet5 steps $((steps / 4))); load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for m in mlp lenet5; do
    s=$steps
    [[ $m == lenet5 ]] && s=$((steps / 4))
    OPENBLAS_NUM_THREADS=1 "$bench" --models $m --steps $s --tag 1x1 | tee -a "$out"
    OPENBLAS_NUM_THREADS=2 "$bench" --models $m --steps $s --tag 1x2 | tee -a "$out"
    if [[ -n $launcher ]]; then
      OPENBLAS_NUM_THREADS=1 "$launcher" -np 2 "$bench" --models $m --steps $s --tag 2x1 | tee -a "$out"
    fi
  done
done
# Step time against the batch size (one process, one thread), for the model.
OPENBLAS_NUM_THREADS=1 "$bench" --models mlp --batches 128,64,32,16,8 --steps "$steps" --tag batch | tee -a "$out"
OPENBLAS_NUM_THREADS=1 "$bench" --models lenet5 --batches 128,64,32,16,8 --steps $((steps / 4)) --tag batch | tee -a "$out"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"): continue
    kv = dict(p.split("=", 1) for p in line.split()[1:])
    rows[(kv["tag"], kv["model"], int(kv["batch"]))].append((float(kv["ms_step"]), float(kv["ms_allreduce"])))
print()
print("| model | setting | ms/step (median) | of which all-reduce | s/epoch (469 steps) | time / 1x1 |")
print("|---|---|---|---|---|---|")
for model in ("mlp", "lenet5"):
    base = statistics.median(v[0] for v in rows[("1x1", model, 128)])
    for tag in ("1x1", "1x2", "2x1"):
        if (tag, model, 128) not in rows: continue
        ms = statistics.median(v[0] for v in rows[(tag, model, 128)])
        red = statistics.median(v[1] for v in rows[(tag, model, 128)])
        print(f"| {model} | {tag} | {ms:.2f} | {red:.2f} | {469*ms/1e3:.2f} | {ms/base:.2f} |")
print()
print("| model | batch | ms/step (1 process, 1 thread) |")
print("|---|---|---|")
for (tag, model, b), v in sorted(rows.items(), key=lambda kv: (kv[0][1], -kv[0][2])):
    if tag == "batch": print(f"| {model} | {b} | {v[0][0]:.3f} |")
PY
