#!/usr/bin/env bash
# saddle side by side with a PyTorch implementation of the same training, on this machine,
# in one run: `saddle train` and the PyTorch peer script alternate (interleaved, the order
# flipped every repetition), same protocol, same pinning; the per-epoch TRAINING seconds
# (test evaluation excluded) of both are collected and their medians compared.
#
# Protocol (both programs):
#   mlp     MLP 784-300-100-10, one model-level constraint expected density <= 0.33
#   lenet5  LeNet5-Caffe, one model-level constraint expected density <= 0.1
#   batch 128, 469 steps per epoch (the last, partial batch included: peer --keep-last),
#   Adam 7e-4, dual projected gradient ascent 1e-4 with dual restarts (saddle:
#   --paper-protocol, the peer's rule), inputs standardised (peer --normalize),
#   real MNIST. saddle's figure is `train_seconds` of metrics.jsonl, the peer's `train_s`.
#
# Usage: PEER=/path/l0_torch.py scripts/bench_pytorch.sh [MODE]
#   MODE  1core (default): saddle with OPENBLAS_NUM_THREADS=1, the peer with --threads 1.
#         inference: forward throughput on the 10,000 test images instead (one thread each):
#         saddle_bench's infer/<model> benchmarks (dense, gated and purged network) and
#         scripts/torch_forward.py (PyTorch: the dense network and the same purged network),
#         alternating REPS times; the points come from MLP_RUN / LENET5_RUN (run folders of
#         `saddle train`, exported with `saddle export` for PyTorch) or LENET5_ARCH /
#         MLP_ARCH (synthetic: that many gates open per layer, e.g. 9-18-65-25).
#         2core: saddle with OPENBLAS_NUM_THREADS=$SADDLE_BLAS_THREADS (default 2) plus
#         $SADDLE_ARGS (e.g. SADDLE_ARGS="--threads 2"), the peer with --threads 2
#         --blas-threads $PEER_BLAS_THREADS (default 1: its best two-core setting).
# Environment (defaults in brackets):
#   PEER          the peer script (required; or the first of ../shared/peer/l0_torch.py)
#   PYTHON        interpreter with torch [/usr/bin/python3]
#   SADDLE        the saddle program [build/saddle]
#   DATA_DIR      folder with the four MNIST IDX files [data/mnist]
#   MODELS        models to run [mlp lenet5]
#   REPS          repetitions of each program and model [3]
#   MLP_EPOCHS    epochs of an MLP run [3]
#   LENET_EPOCHS  epochs of a LeNet5 run [1]
#   SADDLE_ARGS   extra `saddle train` flags (both modes) []
#   OUT           folder for the raw results (runs, JSON, epochs.csv) [a temporary folder]
# Prints one line per run and, at the end, a Markdown table: median training seconds per
# epoch of each program, their ratio (saddle / PyTorch; < 1: saddle is faster) and the
# number of epochs the medians are over. Exit status: 0, 2 on a bad argument or a missing
# program, torch module or data set, 1 if a run fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench_pytorch: error: $*" >&2; exit 2; }

mode=${1:-1core}
[[ $# -le 1 ]] || die "one argument at most (MODE: 1core | 2core), got $#"
[[ $mode == 1core || $mode == 2core || $mode == inference ]] || die "unknown MODE '$mode' (choices: 1core, 2core, inference)"
python=${PYTHON:-/usr/bin/python3}
saddle=${SADDLE:-$root/build/saddle}
data=${DATA_DIR:-$root/data/mnist}
models=${MODELS:-mlp lenet5}
reps=${REPS:-3}
mlp_epochs=${MLP_EPOCHS:-3}
lenet_epochs=${LENET_EPOCHS:-1}
peer=${PEER:-}
if [[ -z $peer && -f $root/../shared/peer/l0_torch.py ]]; then peer=$root/../shared/peer/l0_torch.py; fi
if [[ $mode != inference ]]; then
  [[ -n $peer ]] || die "no PyTorch peer script: set PEER=/path/to/l0_torch.py"
  [[ -f $peer ]] || die "PEER=$peer: no such file"
fi
command -v "$python" >/dev/null 2>&1 || die "PYTHON=$python: not found"
"$python" -c 'import torch' 2>/dev/null || die "$python cannot import torch (Debian 12: apt-get install python3-torch)"
[[ -x $saddle ]] || die "$saddle not built (scripts/build.sh, or set SADDLE=)"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [[ -f $data/$f ]] || die "MNIST not found in $data (missing $f); fetch it with: scripts/fetch_mnist.sh data/mnist"
done
for v in "$reps" "$mlp_epochs" "$lenet_epochs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "REPS, MLP_EPOCHS and LENET_EPOCHS must be positive integers, got '$v'"
done
for m in $models; do [[ $m == mlp || $m == lenet5 ]] || die "unknown model '$m' in MODELS (choices: mlp, lenet5)"; done
read -r -a saddle_extra <<< "${SADDLE_ARGS:-}"

if [[ -n ${OUT:-} ]]; then
  out=$OUT
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
csv=$out/epochs.csv
echo "program,model,mode,rep,epoch,train_seconds" > "$csv"

if [[ $mode == inference ]]; then
  bench=${SADDLE_BENCH:-$(dirname "$saddle")/benchmarks/saddle_bench}
  [[ -x $bench ]] || die "$bench not built (scripts/build.sh, or set SADDLE_BENCH=)"
  torch_args=(--data "$data" --batch 500 --threads 1 --rounds 3)
  bench_env=(SADDLE_MNIST_DIR="$data")
  filters=()
  for m in $models; do
    up=$([[ $m == mlp ]] && echo MLP || echo LENET5)
    run_var=${up}_RUN arch_var=${up}_ARCH
    run=${!run_var:-} arch=${!arch_var:-}
    [[ -z $run || -z $arch ]] || die "$run_var and $arch_var are exclusive"
    torch_args+=(--dense "$m")
    if [[ -n $run ]]; then
      "$saddle" export "$run" --out "$out/$m.sdln" --overwrite > /dev/null || die "saddle export $run failed"
      torch_args+=(--export "$out/$m.sdln")
      bench_env+=(SADDLE_BENCH_${up}_RUN="$run")
    elif [[ -n $arch ]]; then
      torch_args+=(--arch "$m:$arch")
      bench_env+=(SADDLE_BENCH_${up}_ARCH="$arch")
    fi
    filters+=("infer/$m/")
  done
  filter=$(IFS='|'; echo "${filters[*]}")
  echo "bench_pytorch: inference, models $models, $reps repetitions; load $(cut -d' ' -f1-3 /proc/loadavg)"
  for ((r = 1; r <= reps; r++)); do
    for p in saddle torch; do
      if [[ $p == saddle ]]; then
        env "${bench_env[@]}" "$bench" --benchmark_filter="$filter" --benchmark_out="$out/saddle-$r.json" \
          --benchmark_out_format=json > "$out/saddle-$r.log" 2>&1 ||
          { echo "bench_pytorch: saddle_bench failed (log: $out/saddle-$r.log)" >&2; tail -3 "$out/saddle-$r.log" >&2; exit 1; }
        grep -A6 '^Inference' "$out/saddle-$r.log" | sed 's/^/  /'
      else
        "$python" "$root/scripts/torch_forward.py" "${torch_args[@]}" --json "$out/torch-$r.json" > "$out/torch-$r.log" 2>&1 ||
          { echo "bench_pytorch: torch_forward.py failed (log: $out/torch-$r.log)" >&2; tail -3 "$out/torch-$r.log" >&2; exit 1; }
        sed 's/^/  /' "$out/torch-$r.log"
      fi
    done
  done
  echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$python" - "$out" "$reps" <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
rows = {}
for r in range(1, reps + 1):
    for b in json.load(open(f"{out}/saddle-{r}.json"))["benchmarks"]:
        model = b["name"].split("/")[1]
        for k in ("img/s_dense", "img/s_gated", "img/s_purged"):
            rows.setdefault((model, "saddle " + k.split("_")[1]), []).append(b[k])
    for t in json.load(open(f"{out}/torch-{r}.json"))["results"]:
        name = t["network"]
        model = "mlp" if ("mlp" in name.split("(")[-1] or name.endswith("mlp") or "mlp:" in name) else "lenet5"
        kind = "dense" if name.startswith("dense") else "purged"
        rows.setdefault((model, "torch " + kind), []).append(t["img_per_s_cpu"])
print()
print("| model | saddle dense | saddle gated | saddle purged | PyTorch dense | PyTorch purged | saddle purged / saddle dense | saddle purged / PyTorch purged | saddle dense / PyTorch dense |")
print("|---|---|---|---|---|---|---|---|---|")
for model in ("mlp", "lenet5"):
    med = {k[1]: statistics.median(v) for k, v in rows.items() if k[0] == model}
    if "saddle dense" not in med:
        continue
    def ratio(a, b):
        return f"{med[a] / med[b]:.2f}" if a in med and b in med else "-"
    cells = [f"{med[k]:.0f}" if k in med else "-" for k in
             ("saddle dense", "saddle gated", "saddle purged", "torch dense", "torch purged")]
    print(f"| {model} | " + " | ".join(cells) + f" | {ratio('saddle purged', 'saddle dense')} | "
          f"{ratio('saddle purged', 'torch purged')} | {ratio('saddle dense', 'torch dense')} |")
print("(images per second, thread CPU time, medians over the repetitions)")
PY
  exit 0
fi

if [[ $mode == 1core ]]; then
  saddle_env=(OPENBLAS_NUM_THREADS=1)
  peer_threads=(--threads 1)
else
  saddle_env=(OPENBLAS_NUM_THREADS="${SADDLE_BLAS_THREADS:-2}")
  peer_threads=(--threads 2 --blas-threads "${PEER_BLAS_THREADS:-1}")
fi

target_of() { [[ $1 == mlp ]] && echo 0.33 || echo 0.1; }
epochs_of() { [[ $1 == mlp ]] && echo "$mlp_epochs" || echo "$lenet_epochs"; }

run_saddle() {  # model rep
  local m=$1 r=$2 dir=$out/saddle-$1-$2
  env "${saddle_env[@]}" "$saddle" train --model "$m" --target-density "$(target_of "$m")" --batch 128 \
    --epochs "$(epochs_of "$m")" --seed "$r" --paper-protocol --data-dir "$data" \
    --out "$dir" --overwrite --quiet --log-every 0 "${saddle_extra[@]}" > "$dir.log" 2>&1 ||
    { echo "bench_pytorch: saddle train failed (log: $dir.log)" >&2; tail -3 "$dir.log" >&2; exit 1; }
  "$python" - "$dir/metrics.jsonl" "$m" "$mode" "$r" >> "$csv" <<'PY'
import json, sys
path, model, mode, rep = sys.argv[1:]
for line in open(path):
    e = json.loads(line)
    print(f"saddle,{model},{mode},{rep},{e['epoch']},{e['train_seconds']}")
PY
}

run_peer() {  # model rep
  local m=$1 r=$2 json=$out/torch-$1-$2.json
  "$python" "$peer" --model "$m" --mode constrained --target-density "$(target_of "$m")" --batch 128 \
    --epochs "$(epochs_of "$m")" --seed "$r" --lr 7e-4 --dual-lr 1e-4 --normalize --keep-last \
    --data "$data" --json "$json" "${peer_threads[@]}" > "$out/torch-$m-$r.log" 2>&1 ||
    { echo "bench_pytorch: the peer failed (log: $out/torch-$m-$r.log)" >&2; tail -3 "$out/torch-$m-$r.log" >&2; exit 1; }
  "$python" - "$json" "$m" "$mode" "$r" >> "$csv" <<'PY'
import json, sys
path, model, mode, rep = sys.argv[1:]
for e in json.load(open(path))["records"]:
    print(f"torch,{model},{mode},{rep},{e['epoch']},{e['train_s']}")
PY
}

echo "bench_pytorch: mode $mode, models $models, $reps repetitions (MLP $mlp_epochs epochs, LeNet5 $lenet_epochs)," \
  "saddle flags '${SADDLE_ARGS:-}', peer $peer; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= reps; r++)); do
  for m in $models; do
    if ((r % 2)); then order="saddle peer"; else order="peer saddle"; fi
    for p in $order; do
      "run_$p" "$m" "$r"
      tail -n "$(epochs_of "$m")" "$csv" | sed 's/^/  /'
    done
  done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" - "$csv" "$mode" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
mode = sys.argv[2]
print()
print("| model | mode | saddle s/epoch train (median) | PyTorch s/epoch train (median) | saddle / PyTorch | epochs each |")
print("|---|---|---|---|---|---|")
for model in ("mlp", "lenet5"):
    s = [float(r["train_seconds"]) for r in rows if r["program"] == "saddle" and r["model"] == model]
    t = [float(r["train_seconds"]) for r in rows if r["program"] == "torch" and r["model"] == model]
    if not s or not t:
        continue
    ms, mt = statistics.median(s), statistics.median(t)
    print(f"| {model} | {mode} | {ms:.2f} | {mt:.2f} | {ms / mt:.2f} | {len(s)} / {len(t)} |")
PY
