#!/usr/bin/env bash
# Rate-constrained Fashion-MNIST (examples/rate_constraints): trains the MLP 784-300-100-10
# unconstrained, with "recall of every class >= r" for each r in RECALLS, and the same with
# strict recalls on held-out samples for each r in HELD_RECALLS, for each seed, two runs at
# a time; keeps the JSON results and logs (OUT_DIR/unconstrained-seedS.json,
# OUT_DIR/constrained-rR-seedS.json, OUT_DIR/constrained-rR-valV-seedS.json) and prints one
# markdown table per setting: per-class test, train (and held-out) recall, the worst class,
# test error and final multipliers, as mean ± 95% CI over the seeds (Student t).
#
# Usage: scripts/rate_constraints.sh [OUT_DIR]
#   OUT_DIR defaults to docs/results/fashion-rates. Needs a build (scripts/build.sh) and
#   Fashion-MNIST (apt-get install dataset-fashion-mnist, or DATA_DIR with the 4 IDX files).
# Environment: BUILD_DIR (build/), SEEDS ("1 2 3"), EPOCHS (20), RECALLS ("0.8 0.9"),
#   HELD_RECALLS ("0.75": settings whose strict recalls are measured on VALIDATION (10000)
#   held-out training samples), SOLVER (gda), DATA_DIR (""), JOBS (2), TABLES_ONLY=1 (no
#   training: tables of the JSON files already in OUT_DIR).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/docs/results/fashion-rates}
build=${BUILD_DIR:-$root/build}
exe=$build/examples/rate_constraints/rate_constraints
seeds=${SEEDS:-1 2 3}
epochs=${EPOCHS:-20}
recalls=${RECALLS:-0.8 0.9}
held_recalls=${HELD_RECALLS:-0.75}
validation=${VALIDATION:-10000}
solver=${SOLVER:-gda}
jobs=${JOBS:-2}
[[ "${TABLES_ONLY:-0}" == 1 || -x "$exe" ]] || { echo "rate_constraints: $exe not built; run scripts/build.sh" >&2; exit 2; }
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

runs=()
for seed in $seeds; do
  runs+=("unconstrained $seed --unconstrained")
  for r in $recalls; do runs+=("constrained-r$r $seed --recall $r"); done
  for r in $held_recalls; do
    runs+=("constrained-r$r-val$validation $seed --recall $r --validation $validation")
  done
done
run_one() {
  local name=$1 seed=$2
  shift 2
  "$exe" --seed "$seed" --epochs "$epochs" --solver "$solver" --data-dir "${DATA_DIR:-}" "$@" \
    --out "$out/$name-seed$seed.json" >"$out/$name-seed$seed.log" 2>&1
}
pids=()
[[ "${TABLES_ONLY:-0}" == 1 ]] && runs=()
for r in "${runs[@]+"${runs[@]}"}"; do
  # shellcheck disable=SC2086
  run_one $r &
  pids+=($!)
  while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n; done
done
status=0
for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" || status=1; done
[[ $status -eq 0 ]] || { echo "rate_constraints: a run failed; see $out/*.log" >&2; exit 1; }

# One line per run: test error, 10 test recalls, 10 multipliers, 10 train recalls and, for
# runs with held-out strict values, 10 held-out recalls.
extract() {
  local line held
  line=$(sed -E 's/.*"multipliers": \[([^]]*)\], "test": \{"error": ([^,]*), "loss": [^,]*, "recall": \[([^]]*)\].*"train": \{"error": [^,]*, "loss": [^,]*, "recall": \[([^]]*)\].*/\2,\3,\1,\4/' "$1" | tr -d ' ')
  held=$(grep -o '"held_out": {[^}]*}' "$1" | sed -E 's/.*"recall": \[([^]]*)\].*/\1/' | tr -d ' ' || true)
  echo "$line${held:+,$held}"
}
table() {
  local kind=$1 files=("$out"/$1-seed[0-9]*.json) f
  [[ -e "${files[0]}" ]] || return 0
  for f in "${files[@]}"; do extract "$f"; done | awk -F, -v kind="$kind" '
    BEGIN {
      split("T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot", names, ",")
      # two-sided 95% Student t quantiles for n-1 = 1..10 degrees of freedom
      split("12.706,4.303,3.182,2.776,2.571,2.447,2.365,2.306,2.262,2.228", tq, ",")
    }
    function minof(a, b,   i, m) { m = $a; for (i = a + 1; i <= b; i++) if ($i < m) m = $i; return m }
    {
      n++
      held = NF >= 41
      $42 = minof(2, 11)   # worst class: test recall
      $43 = minof(22, 31)  # train recall
      $44 = held ? minof(32, 41) : 0  # held-out recall
      for (i = 1; i <= 44; i++) { s[i] += $i; ss[i] += $i * $i }
    }
    function cell(i,   m, v) {
      m = s[i] / n
      v = n > 1 ? (ss[i] - n * m * m) / (n - 1) : 0
      if (v < 0) v = 0
      return sprintf("%.3f ± %.3f", m, n > 1 ? tq[n - 1] * sqrt(v / n) : 0)
    }
    END {
      printf "%s (%d seeds)\n\n| class | test recall | train recall |%s final multiplier |\n|---|---|---|%s---|\n", kind, n, held ? " held-out recall |" : "", held ? "---|" : ""
      for (k = 1; k <= 10; k++) printf "| %s | %s | %s |%s %s |\n", names[k], cell(k + 1), cell(k + 21), held ? " " cell(k + 31) " |" : "", cell(k + 11)
      printf "| **min over classes** | %s | %s |%s |\n", cell(42), cell(43), held ? " " cell(44) " |" : ""
      printf "| **test error** | %s | |%s |\n\n", cell(1), held ? " |" : ""
    }'
}
table unconstrained
for r in $recalls; do table "constrained-r$r"; done
for r in $held_recalls; do table "constrained-r$r-val$validation"; done
