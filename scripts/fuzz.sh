#!/usr/bin/env bash
# Builds saddle's libFuzzer targets (tests/fuzz, CMake option SADDLE_BUILD_FUZZERS) with
# clang 14 in their own build directory and runs each one for a fixed time on a copy of its
# committed seed corpus (tests/fuzz/corpus/<target>/; the runs never modify the repository).
# Installs nothing: when clang-14 or libFuzzer is missing it says what to apt-get install.
#
# Prints one line per target, e.g.
#   fuzz: fuzz_json: 1234567 executions in 60 s: ok
# and exits non-zero when a target crashed, leaked, hung, allocated too much or tripped a
# sanitizer (its log and the input that did it are kept under $build_dir/fuzz-artifacts/).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
# Environment:
#   SADDLE_FUZZ_BUILD_DIR   build directory (default: build-fuzz/ in the repository)
#   SADDLE_FUZZ_TARGETS     targets to run, space-separated (default: all six)
#   SADDLE_FUZZ_ARGS        extra libFuzzer flags for every run (word-split), e.g. -runs=1000000
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (a whole number of seconds > 0)" >&2
  exit 2
fi
build_dir=${SADDLE_FUZZ_BUILD_DIR:-$root/build-fuzz}
read -r -a targets <<<"${SADDLE_FUZZ_TARGETS:-fuzz_idx fuzz_config fuzz_checkpoint fuzz_purged_network fuzz_json fuzz_plugin_abi}"
read -r -a extra_args <<<"${SADDLE_FUZZ_ARGS:-}"
jobs=$(nproc 2>/dev/null || echo 2)

log() { echo "fuzz: $*"; }

# --- clang 14 and libFuzzer ---
tmp=$(mktemp -d "${TMPDIR:-/tmp}/saddle-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! command -v clang++-14 >/dev/null 2>&1 || ! command -v clang-14 >/dev/null 2>&1; then
  log "clang-14 not found: as root run  apt-get install -y clang-14 libfuzzer-14-dev"
  exit 2
fi
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$tmp/probe.cpp"
if ! clang++-14 -fsanitize=fuzzer,address,undefined "$tmp/probe.cpp" -o "$tmp/probe" >"$tmp/probe.log" 2>&1; then
  cat "$tmp/probe.log"
  log "clang++-14 cannot link a libFuzzer target: as root run  apt-get install -y clang-14 libfuzzer-14-dev"
  exit 2
fi

# --- build ---
log "building the fuzz targets in $build_dir"
start=$SECONDS
if ! CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSADDLE_BUILD_FUZZERS=ON -DSADDLE_BUILD_TESTS=OFF -DSADDLE_BUILD_BENCHMARKS=OFF \
  -DSADDLE_BUILD_APPS=ON -DSADDLE_WITH_MPI=OFF -DSADDLE_WITH_AUTODIFF=OFF >"$tmp/configure.log" 2>&1; then
  cat "$tmp/configure.log"
  log "cmake configure failed in $build_dir"
  exit 1
fi
if ! cmake --build "$build_dir" --target "${targets[@]}" -j "$jobs" >"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log"
  log "build failed in $build_dir"
  exit 1
fi
log "built in $((SECONDS - start)) s"

# --- runs ---
# Targets whose reader takes a path write each input to a file under $TMPDIR: give them a
# directory of their own (removed at exit, with what a crashed run leaves there), in memory
# (/dev/shm) when there is some: 2-3 times more executions per second than on a disk.
run_tmpdir=$tmp/files
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then
  run_tmpdir=$(mktemp -d /dev/shm/saddle-fuzz.XXXXXX)
fi
mkdir -p "$run_tmpdir"
trap 'rm -rf "$tmp" "$run_tmpdir"' EXIT
artifacts=$build_dir/fuzz-artifacts
mkdir -p "$artifacts"
failures=0
summary=()
for t in "${targets[@]}"; do
  corpus=$tmp/corpus-$t
  mkdir -p "$corpus"
  if [[ -d "$root/tests/fuzz/corpus/$t" ]]; then
    cp -R "$root/tests/fuzz/corpus/$t/." "$corpus/"
  fi
  mkdir -p "$artifacts/$t"
  # -malloc_limit_mb: a reader must not allocate far more than its input can back (the
  # inputs are at most -max_len bytes); -timeout: one input must not take seconds;
  # detect_leaks: leaks count as failures.
  TMPDIR=$run_tmpdir ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build_dir/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=256 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/$t/" \
    "${extra_args[@]}" "$corpus" >"$tmp/$t.log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$tmp/$t.log" | tail -n 1)
  secs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/p' "$tmp/$t.log" | tail -n 1)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failures=$((failures + 1))
    cp "$tmp/$t.log" "$artifacts/$t/fuzz.log"
    grep -E 'ERROR: |SUMMARY: |runtime error|==[0-9]+==|Test unit written to' "$tmp/$t.log" | head -n 20
    log "$t: log kept in $artifacts/$t/fuzz.log"
  fi
  summary+=("$t: ${execs:-0} executions in ${secs:-$seconds} s: $result")
  log "${summary[-1]}"
done

echo
for line in "${summary[@]}"; do log "$line"; done
if [[ $failures -ne 0 ]]; then
  log "$failures of ${#targets[@]} targets FAILED"
  exit 1
fi
log "all ${#targets[@]} targets passed"
