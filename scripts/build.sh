#!/usr/bin/env bash
# Configures (Release unless the extra arguments say otherwise) and builds saddle with all
# cores, then prints where the `saddle` binary is.
#
# Usage: scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
#   BUILD_DIR defaults to build/ in the repository; relative paths are taken from the
#   current directory. Examples:
#     scripts/build.sh
#     scripts/build.sh build-debug -DCMAKE_BUILD_TYPE=Debug
#     scripts/build.sh build-asan -DSADDLE_SANITIZE=ON -DSADDLE_BUILD_BENCHMARKS=OFF
set -euo pipefail

if [[ $# -ge 1 && ( "$1" == -h || "$1" == --help ) ]]; then
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $# -ge 1 && "$1" != -* ]]; then
  build_dir=$1
  shift
else
  build_dir=$root/build
fi

command -v cmake >/dev/null 2>&1 || { echo "build: cmake not found; run scripts/setup.sh" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)

echo "build: configuring $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@"
echo "build: building with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"

build_dir=$(cd "$build_dir" && pwd)
if [[ -x "$build_dir/saddle" ]]; then
  echo "build: done; binary: $build_dir/saddle"
else
  echo "build: done (no saddle binary: configured with -DSADDLE_BUILD_APPS=OFF?) in $build_dir"
fi
