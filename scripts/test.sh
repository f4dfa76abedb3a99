#!/usr/bin/env bash
# Runs saddle's whole check, as CI does:
#   1. scripts/setup.sh (installs missing Debian packages; a no-op when all are there);
#   2. configures and builds the project (Release, tests on) in $SADDLE_BUILD_DIR;
#   3. runs the GoogleTest suite: ctest --output-on-failure -j2, OPENBLAS_NUM_THREADS=1;
#   4. installs the build into a temporary prefix and builds and runs the out-of-tree
#      consumer examples/consumer against it (find_package(saddle)), and builds
#      examples/rate_constraints against it too (running its --help): one more check; when
#      saddle was built with ADOL-C, also examples/consumer_autodiff (saddle::autodiff);
#      then builds the out-of-tree plugin examples/plugin against the same prefix and solves
#      its problem with the installed `saddle solve --plugin` (checks the answer): one more;
#   5. only when SADDLE_SANITIZE_TESTS=1 (CI sets it): builds the suite with AddressSanitizer
#      and UndefinedBehaviorSanitizer (-DSADDLE_SANITIZE=ON, -O1 -g1, no benchmarks) in
#      $SADDLE_SANITIZE_BUILD_DIR and runs it; any report fails its test. LeakSanitizer
#      ignores only the third-party leaks listed in tests/sanitizers/lsan.supp;
#   6. only when SADDLE_FUZZ_TESTS=1: scripts/fuzz.sh 20 (builds the libFuzzer targets with
#      clang 14 in build-fuzz/ and runs each for 20 s on its seed corpus): one more check.
# Exits non-zero on any failure. The last line is always `N passed, N failed` (followed by
# `, N skipped` when some tests were skipped), counting the ctest tests (of both suites
# when the sanitizer run is on) plus the consumer, consumer_autodiff, plugin and fuzz checks.
#
# Usage: scripts/test.sh
# Environment:
#   SADDLE_BUILD_DIR           build directory (default: build/ in the repository)
#   SADDLE_SANITIZE_TESTS=1    also run the ASan+UBSan suite (default: off; CI: on)
#   SADDLE_SANITIZE_BUILD_DIR  its build directory (default: build-sanitize/)
#   SADDLE_FUZZ_TESTS=1        also build and run the fuzz targets for 20 s each (default: off)
#   SADDLE_CMAKE_ARGS          extra cmake arguments for both builds (word-split)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
build_dir=${SADDLE_BUILD_DIR:-$root/build}
sanitize_dir=${SADDLE_SANITIZE_BUILD_DIR:-$root/build-sanitize}
read -r -a extra_cmake_args <<<"${SADDLE_CMAKE_ARGS:-}"
jobs=$(nproc 2>/dev/null || echo 2)
# Tests pin BLAS to one thread (their own ENVIRONMENT property says so too).
export OPENBLAS_NUM_THREADS=1

passed=0
failed=0
skipped=0
timings=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/saddle-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

log() { echo "test: $*"; }
# Runs "$@" and records its wall time under label $1 (the rest is the command).
timed() {
  local label=$1 start=$SECONDS rc
  shift
  "$@"
  rc=$?
  timings+=("$label: $((SECONDS - start)) s")
  return $rc
}
finish() {
  echo
  log "timings: ${timings[*]/%/;}"
  if [[ $failed -ne 0 ]]; then
    log "FAILED"
  else
    log "all checks passed"
  fi
  if [[ $skipped -ne 0 ]]; then
    echo "$passed passed, $failed failed, $skipped skipped"
  else
    echo "$passed passed, $failed failed"
  fi
  [[ $failed -eq 0 ]] && exit 0 || exit 1
}

# Configures and builds a tree. $1 = build dir, rest = extra cmake arguments.
build_tree() {
  local dir=$1
  shift
  # Tests and the CLI (which the CLI tests run) are forced on, whatever an older cache says.
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DSADDLE_BUILD_TESTS=ON \
    -DSADDLE_BUILD_APPS=ON "${extra_cmake_args[@]}" "$@" &&
    cmake --build "$dir" -j "$jobs"
}

# Runs ctest in $1 and adds its counts to passed/failed. Extra env may be set by the caller.
run_ctest() {
  local dir=$1 out=$tmp/ctest-$(basename "$1").log rc line total nfail nskip
  ctest --test-dir "$dir" --output-on-failure -j2 --no-tests=error --timeout 600 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  # e.g. "100% tests passed, 0 tests failed out of 57"
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
  if [[ -z "$line" ]]; then
    log "ctest in $dir printed no summary (exit $rc): counted as one failure"
    failed=$((failed + 1))
    return 1
  fi
  nfail=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  # ctest counts skipped (GTEST_SKIP) and disabled tests among the passed ones; it lists
  # them under "The following tests did not run:" as "  12 - Name (Skipped)".
  nskip=$(grep -cE '^[[:space:]]+[0-9]+ - .* \((Skipped|Disabled)\)$' "$out")
  passed=$((passed + total - nfail - nskip))
  failed=$((failed + nfail))
  skipped=$((skipped + nskip))
  if [[ $rc -ne 0 && $nfail -eq 0 ]]; then
    log "ctest in $dir exited $rc with no failed test: counted as one failure"
    failed=$((failed + 1))
  fi
  [[ $rc -eq 0 && $nfail -eq 0 ]]
}

# Installs $build_dir into a temporary prefix and builds and runs examples/consumer, then
# builds examples/rate_constraints (the saddle::nn layers API) against it.
consumer_check() {
  local prefix=$tmp/prefix cdir=$tmp/consumer-build
  cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"
    log "cmake --install failed"
    return 1
  }
  cmake -S "$root/examples/consumer" -B "$cdir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$cdir" -j "$jobs" &&
    "$cdir/consumer" &&
    cmake -S "$root/examples/rate_constraints" -B "$tmp/rates-build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$tmp/rates-build" -j "$jobs" &&
    "$tmp/rates-build/rate_constraints" --help >/dev/null
}

# Builds examples/plugin against the prefix of consumer_check (installing it if needed) and
# solves its problem with the installed saddle: converged, |x - x*|_inf < 1e-4.
plugin_check() {
  local prefix=$tmp/prefix pdir=$tmp/plugin-build out err
  if [[ ! -x "$prefix/bin/saddle" ]]; then
    cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
      cat "$tmp/install.log"
      log "cmake --install failed"
      return 1
    }
  fi
  cmake -S "$root/examples/plugin" -B "$pdir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$pdir" -j "$jobs" || return 1
  out=$("$prefix/bin/saddle" solve --plugin "$pdir/libdisk_plugin.so" --problem disk-projection \
    --solver extragradient --json) || {
    log "saddle solve --plugin exited non-zero"
    return 1
  }
  echo "$out" | grep -E '"(termination|x_error)"'
  err=$(sed -nE 's/.*"x_error": *([-+0-9.eE]+).*/\1/p' <<<"$out" | head -n 1)
  grep -q '"termination": "converged"' <<<"$out" && [[ -n "$err" ]] &&
    awk -v e="$err" 'BEGIN { exit !(e < 1e-4) }'
}

# Builds and runs examples/consumer_autodiff against the prefix that consumer_check installed.
consumer_autodiff_check() {
  local prefix=$tmp/prefix cdir=$tmp/consumer-autodiff-build
  cmake -S "$root/examples/consumer_autodiff" -B "$cdir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$cdir" -j "$jobs" &&
    "$cdir/consumer_autodiff"
}

# --- 1. dependencies ---
log "=== setup ==="
if ! timed setup bash "$root/scripts/setup.sh"; then
  log "scripts/setup.sh failed"
  failed=$((failed + 1))
  finish
fi

# --- 2. build ---
log "=== build ($build_dir) ==="
if ! timed build build_tree "$build_dir"; then
  log "build failed in $build_dir"
  failed=$((failed + 1))
  finish
fi

# --- 3. unit tests ---
log "=== ctest ($build_dir) ==="
timed ctest run_ctest "$build_dir" || log "some tests failed in $build_dir"

# --- 4. out-of-tree consumer of the installed package ---
log "=== consumer (find_package(saddle) from an installed prefix) ==="
if timed consumer consumer_check; then
  log "consumer check passed"
  passed=$((passed + 1))
else
  log "consumer check FAILED"
  failed=$((failed + 1))
fi

# --- 4b. the same with saddle::autodiff, when the install has it (saddle built with ADOL-C) ---
if [[ -f "$tmp/prefix/include/saddle/autodiff.hpp" ]]; then
  log "=== consumer_autodiff (find_package(saddle COMPONENTS autodiff)) ==="
  if timed consumer-autodiff consumer_autodiff_check; then
    log "consumer_autodiff check passed"
    passed=$((passed + 1))
  else
    log "consumer_autodiff check FAILED"
    failed=$((failed + 1))
  fi
else
  log "consumer_autodiff skipped (saddle built without ADOL-C: no saddle::autodiff)"
fi

log "=== plugin (examples/plugin loaded by the installed saddle solve --plugin) ==="
if timed plugin plugin_check; then
  log "plugin check passed"
  passed=$((passed + 1))
else
  log "plugin check FAILED"
  failed=$((failed + 1))
fi

# --- 5. sanitizers (opt-in) ---
if [[ "${SADDLE_SANITIZE_TESTS:-0}" == 1 ]]; then
  log "=== ASan+UBSan build and tests ($sanitize_dir) ==="
  # -O1 -g1: the optimisation level the sanitizers' documentation recommends, with line
  # tables for the reports and far less debug information to compile and link than
  # RelWithDebInfo's -O2 -g (timings: docs/testing.md).
  if timed sanitize-build build_tree "$sanitize_dir" -DSADDLE_SANITIZE=ON \
    -DSADDLE_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"; then
    # Any sanitizer report fails the test that triggered it. fast_unwind_on_malloc=0: full
    # allocation stacks through libraries without frame pointers (Open MPI), which the
    # suppressions need; steps do not allocate, so it costs little.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1:fast_unwind_on_malloc=0} \
      LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      timed sanitize-ctest run_ctest "$sanitize_dir" || log "some sanitizer tests failed"
  else
    log "sanitizer build failed in $sanitize_dir"
    failed=$((failed + 1))
  fi
else
  log "sanitizer suite skipped (set SADDLE_SANITIZE_TESTS=1 to run it)"
fi

# --- 6. fuzzing (opt-in) ---
if [[ "${SADDLE_FUZZ_TESTS:-0}" == 1 ]]; then
  log "=== fuzz targets, 20 s each (scripts/fuzz.sh) ==="
  if timed fuzz bash "$root/scripts/fuzz.sh" 20; then
    log "fuzz check passed"
    passed=$((passed + 1))
  else
    log "fuzz check FAILED"
    failed=$((failed + 1))
  fi
else
  log "fuzz targets skipped (set SADDLE_FUZZ_TESTS=1 to run them)"
fi

finish
