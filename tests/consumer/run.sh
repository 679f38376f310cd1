#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then against it: builds tests/consumer with
# find_package(zkspool) and runs it, and builds a project made of nothing but the two code
# snippets of README.md's "Using the library" (its CMakeLists.txt and main.cc), so the README
# cannot drift from what compiles.
# Usage: run.sh BUILD_DIR CONSUMER_SOURCE_DIR README [CXX_FLAGS]
# (CXX_FLAGS: the sanitizer flags the library was built with, if any).
set -euo pipefail
build_dir=$1
source_dir=$2
readme=$3
flags=${4:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null

build() {  # SOURCE BUILD
  cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
  cmake --build "$2" >/dev/null
}
build "$source_dir" "$scratch/build"
"$scratch/build/consumer" "$scratch/spool"

# The N-th fenced block of LANG in the "Using the library" section.
snippet() {
  awk -v lang="$1" '
    /^## / { in_section = ($0 == "## Using the library") }
    in_section && $0 == "```" lang { in_block = 1; next }
    in_block && $0 == "```" { exit }
    in_block { print }' "$readme"
}
mkdir -p "$scratch/readme"
snippet cmake >"$scratch/readme/CMakeLists.txt"
snippet 'c++' >"$scratch/readme/main.cc"
[ -s "$scratch/readme/CMakeLists.txt" ] && [ -s "$scratch/readme/main.cc" ] ||
  { echo "run.sh: README.md has no cmake and c++ snippets under ## Using the library" >&2; exit 1; }
build "$scratch/readme" "$scratch/readme-build"
echo "README snippet builds: $(ls "$scratch/readme-build/app")"
