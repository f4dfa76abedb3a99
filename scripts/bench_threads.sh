#!/usr/bin/env bash
# Two cores: saddle's data-parallel threads against OpenBLAS threading and against the
# PyTorch peer's best two-core setting, interleaved round by round in one run (the machine is
# shared: compare the ratios of one run). Per round: saddle_bench_threads (one round of its six
# configurations per model) and, when a peer script is given, the peer's two-core run of the
# same number of steps. Prints the median ms per training step of each, and the ratios.
#
# Usage: [ROUNDS=5] [STEPS_MLP=200] [STEPS_LENET=60] [PEER=path/to/l0_torch.py]
#        bash scripts/bench_threads.sh [build-dir]
# The peer (optional): an independent PyTorch implementation of the same training, run with
# /usr/bin/python3 --threads 2 --blas-threads 1 --max-batches N; its per-step time is its
# train_s / N.
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-5}
steps_mlp=${STEPS_MLP:-200}
steps_lenet=${STEPS_LENET:-60}
peer=${PEER:-}
data=${SADDLE_MNIST_DIR:-data/mnist}
bench="$build/benchmarks/saddle_bench_threads"
[[ -x $bench ]] || { echo "bench_threads: error: $bench not built (cmake --build $build --target saddle_bench_threads)" >&2; exit 1; }
[[ -z $peer || -f $peer ]] || { echo "bench_threads: error: peer script $peer not found" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((r = 0; r < rounds; r++)); do
  for model in mlp lenet5; do
    steps=$steps_mlp
    [[ $model == lenet5 ]] && steps=$steps_lenet
    "$bench" --models "$model" --steps "$steps" --rounds 1 | grep '^RUN' | sed "s/round=0/round=$r/" | tee -a "$log"
    if [[ -n $peer ]]; then
      out=$(/usr/bin/python3 "$peer" --model "$model" --mode constrained --target-density 0.1 --batch 128 \
        --threads 2 --blas-threads 1 --normalize --data "$data" --epochs 1 --max-batches "$steps" --no-eval 2>&1)
      s=$(awk '$1 == "1" { print $2; exit }' <<<"$out")  # the line of epoch 1: "1 <train_s> <steps/s> ..."
      [[ -n $s ]] || { echo "bench_threads: error: no train_s in the peer's output: $out" >&2; exit 1; }
      ms=$(awk -v s="$s" -v n="$steps" 'BEGIN { printf "%.4f", 1000 * s / n }')
      echo "RUN model=$model config=torch2 round=$r ms_step=$ms allocs_per_step=nan" | tee -a "$log"
    fi
  done
done
python3 - "$log" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=") for kv in line.split()[1:])
    c = runs.setdefault(f["model"], {}).setdefault(f["config"], {"wall": [], "main": []})
    c["wall"].append(float(f["ms_step"]))
    if "main_cpu_ms" in f:
        c["main"].append(float(f["main_cpu_ms"]))
for model, configs in runs.items():
    wall = {c: statistics.median(v["wall"]) for c, v in configs.items()}
    main = {c: statistics.median(v["main"]) for c, v in configs.items() if v["main"]}
    rounds = len(next(iter(configs.values()))["wall"])
    print(f"\n{model}: medians over {rounds} rounds; wall ms/step (s/epoch = 469 steps) and the calling "
          f"thread's CPU ms/step")
    print(f"  {'config':7} {'wall':>8} {'s/epoch':>8} {'/blas1':>7} {'/blas2':>7} {'/torch2':>8}"
          f" {'main cpu':>9} {'/blas1':>7} {'/blas2':>7}")
    for c in wall:
        r = lambda d, base: f"{d[c] / d[base]:.3f}" if base in d and c in d else "-"
        m = f"{main[c]:.3f}" if c in main else "-"
        print(f"  {c:7} {wall[c]:8.3f} {469 * wall[c] / 1000:8.2f} {r(wall, 'blas1'):>7} {r(wall, 'blas2'):>7}"
              f" {r(wall, 'torch2'):>8} {m:>9} {r(main, 'blas1'):>7} {r(main, 'blas2'):>7}")
EOF
