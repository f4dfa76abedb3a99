#!/usr/bin/env bash
# Two cores, epoch level: `saddle train` epochs on one thread against `--threads 2` with each
# split (--thread-split batch | layers), and optionally against another saddle binary on one
# thread (BASELINE, e.g. the previous release: does the one-thread path stay as fast?).
# Runs are interleaved, the order rotating every round (the machine is shared: compare the
# ratios of one run). Every run trains EPOCHS epochs of the paper protocol (Adam, gradient
# ascent, model-level target) on real MNIST with OpenBLAS on one thread; the figure is the
# median of the per-epoch `train_seconds` of metrics.jsonl (training steps only).
#
# Usage: [REPS=6] [EPOCHS=3] [MODEL=mlp] [BASELINE=path/to/other/saddle] [OUT=dir]
#        bash scripts/bench_two_cores.sh [build-dir]
# Prints per configuration the median s/epoch, the fastest epoch, the ratio to one thread,
# and every epoch (a second vCPU taken by the host shows as a group of two-thread epochs at
# one-thread speed).
set -euo pipefail
build=${1:-build}
reps=${REPS:-6}
epochs=${EPOCHS:-3}
model=${MODEL:-mlp}
baseline=${BASELINE:-}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
data=${SADDLE_MNIST_DIR:-data/mnist}
saddle="$build/saddle"
[[ -x $saddle ]] || { echo "bench_two_cores: error: $saddle not built" >&2; exit 1; }
[[ -z $baseline || -x $baseline ]] || { echo "bench_two_cores: error: baseline $baseline is not an executable" >&2; exit 1; }
[[ $model == mlp || $model == lenet5 ]] || { echo "bench_two_cores: error: MODEL must be mlp or lenet5" >&2; exit 1; }
target=0.33
[[ $model == lenet5 ]] && target=0.1
configs=(one batch2 layers2)
[[ -n $baseline ]] && configs+=(baseline1)
n=${#configs[@]}
for ((r = 1; r <= reps; r++)); do
  for ((k = 0; k < n; k++)); do
    c=${configs[$(((k + r) % n))]}
    case $c in
      one) cmd=("$saddle" train) ;;
      batch2) cmd=("$saddle" train --threads 2 --thread-split batch) ;;
      layers2) cmd=("$saddle" train --threads 2 --thread-split layers) ;;
      baseline1) cmd=("$baseline" train) ;;
    esac
    OPENBLAS_NUM_THREADS=1 "${cmd[@]}" --model "$model" --target-density "$target" --batch 128 --epochs "$epochs" \
      --seed "$r" --paper-protocol --data-dir "$data" --out "$out/$c-r$r" --overwrite --quiet --log-every 0 \
      >"$out/$c-r$r.log" 2>&1 || { echo "bench_two_cores: error: run $c-r$r failed:" >&2; tail -3 "$out/$c-r$r.log" >&2; exit 1; }
  done
done
python3 - "$out" "${configs[@]}" <<'EOF'
import glob, json, statistics, sys
out, configs = sys.argv[1], sys.argv[2:]
v = {c: [json.loads(l)["train_seconds"] for f in sorted(glob.glob(f"{out}/{c}-r*/metrics.jsonl")) for l in open(f)]
     for c in configs}
m = {c: statistics.median(x) for c, x in v.items()}
print(f"{'config':10} {'s/epoch':>8} {'fastest':>8} {'/one':>6}  epochs (sorted)")
for c in configs:
    print(f"{c:10} {m[c]:8.3f} {min(v[c]):8.3f} {m[c] / m['one']:6.3f}  {[round(x, 3) for x in sorted(v[c])]}")
EOF
