#!/usr/bin/env bash
# Figure 1 of Gallego-Posada et al. (2021), "training dynamics for an MLP model with
# epsilon = 33 % (model level) along 200 epochs, one trained employing dual restarts and
# another without them", regenerated on real MNIST, with saddle's default dual update added
# as a third curve:
#   paper-restarts     the paper's protocol: projected gradient ascent 1e-4, dual restarts
#   paper-no-restarts  the same without dual restarts
#   default            saddle train's default dual update (nuPI with a clipped proportional
#                      term and dual restarts; docs/formulations.md), on the paper's model
#                      (log_alpha >= ln 0.01, no fixed-gate phase) as the other two
# Each is one `saddle train` run (seed 1, one core each, two at a time) in OUT_DIR/<name>;
# an interrupted script resumes its unfinished runs from their checkpoints when run again.
# Then draws OUT_DIR/figure1.png (expected density, multiplier and test error against the
# epoch, the three runs overlaid) with gnuplot and copies it to docs/img/figure1.png.
#
# Usage: scripts/figure1.sh [OUT_DIR]      (default: runs/figure1)
# Environment: BUILD_DIR (build/), DATA_DIR (data/mnist), EPOCHS (200), SEED (1),
#   PLOT_ONLY=1 (no training: plot the runs already in OUT_DIR).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/runs/figure1}
exe=${BUILD_DIR:-$root/build}/saddle
data=${DATA_DIR:-$root/data/mnist}
epochs=${EPOCHS:-200}
seed=${SEED:-1}
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"

names=(paper-restarts paper-no-restarts default)
# The figure compares dual updates on one model: the paper's (log_alpha >= ln 0.01, no
# fixed-gate phase; --paper-protocol sets both), also for the default dual update.
paper_model="--log-alpha-min -4.605170185988091 --fixed-gate-epochs 0"
args_of() {
  case $1 in
    paper-restarts) echo "--paper-protocol" ;;
    paper-no-restarts) echo "--dual-rule gradient-ascent --dual-lr 1e-4 --dual-scale one --no-dual-restarts $paper_model" ;;
    default) echo "$paper_model" ;;
  esac
}

# Trains run $1 (or resumes it, or keeps it when it finished).
run_one() {
  local name=$1 dir=$out/$1
  if [[ -f $dir/summary.json ]]; then
    echo "figure1: $name finished before; kept"
  elif [[ -f $dir/checkpoint.bin ]]; then
    echo "figure1: $name resumed from its checkpoint"
    "$exe" train --resume "$dir" --progress lines >>"$out/$name.log" 2>&1
  else
    # shellcheck disable=SC2046
    "$exe" train --model mlp --target-density 0.33 --epochs "$epochs" --seed "$seed" \
      --data-dir "$data" $(args_of "$name") --progress lines --out "$dir" --overwrite \
      >"$out/$name.log" 2>&1
  fi
}

if [[ "${PLOT_ONLY:-0}" != 1 ]]; then
  [[ -x $exe ]] || { echo "figure1: $exe not built; run scripts/build.sh" >&2; exit 2; }
  pids=()
  for name in "${names[@]}"; do
    run_one "$name" &
    pids+=($!)
    # two runs at a time (one per core)
    if [[ ${#pids[@]} -ge 2 ]]; then
      wait "${pids[0]}" || { echo "figure1: run failed (see $out/*.log)" >&2; exit 1; }
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "figure1: run failed (see $out/*.log)" >&2; exit 1; }; done
fi

for name in "${names[@]}"; do
  [[ -f $out/$name/dynamics.dat ]] || { echo "figure1: $out/$name/dynamics.dat missing" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "figure1: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }

# dynamics.dat columns: epoch density_model ... test_error_pct train_error_pct lambda_model ...
cat >"$out/figure1.gp" <<EOF
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 900,1050 font "sans,10" } else { set terminal png size 900,1050 }
set output "$out/figure1.png"
set key outside right top
set grid
set xrange [0:$epochs]
set lmargin 10
set rmargin 30
a = "$out/paper-restarts/dynamics.dat"
b = "$out/paper-no-restarts/dynamics.dat"
c = "$out/default/dynamics.dat"
set multiplot layout 3,1 title "MLP 784-300-100, model density <= 0.33, MNIST, seed $seed"
set ylabel "expected density"
set yrange [0.2:1.0]
unset xlabel
plot a using 1:2 with lines lw 2 lc rgb "#1f77b4" title "GA 1e-4, restarts (paper)", \
     b using 1:2 with lines lw 2 lc rgb "#ff7f0e" title "GA 1e-4, no restarts", \
     c using 1:2 with lines lw 2 lc rgb "#2ca02c" title "saddle default", \
     0.33 with lines dt 2 lw 1.5 lc rgb "black" title "target 0.33"
set ylabel "multiplier"
set yrange [0:*]
set logscale y
set yrange [0.001:*]
plot a using 1:(\$8 > 0 ? \$8 : 1/0) with lines lw 2 lc rgb "#1f77b4" title "GA 1e-4, restarts (paper)", \
     b using 1:(\$8 > 0 ? \$8 : 1/0) with lines lw 2 lc rgb "#ff7f0e" title "GA 1e-4, no restarts", \
     c using 1:(\$8 > 0 ? \$8 : 1/0) with lines lw 2 lc rgb "#2ca02c" title "saddle default"
set ylabel "test error (%)"
set xlabel "epoch"
set yrange [1:4]
unset logscale y
plot a using 1:6 with lines lw 2 lc rgb "#1f77b4" title "GA 1e-4, restarts (paper)", \
     b using 1:6 with lines lw 2 lc rgb "#ff7f0e" title "GA 1e-4, no restarts", \
     c using 1:6 with lines lw 2 lc rgb "#2ca02c" title "saddle default"
unset multiplot
EOF
gnuplot "$out/figure1.gp"
mkdir -p "$root/docs/img"
cp "$out/figure1.png" "$root/docs/img/figure1.png"
echo "figure1: wrote $out/figure1.png and docs/img/figure1.png"
