#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, builds tests/consumer against it with
# find_package(zkspool), and runs it. Usage: run.sh BUILD_DIR CONSUMER_SOURCE_DIR [CXX_FLAGS]
# (CXX_FLAGS: the sanitizer flags the library was built with, if any).
set -euo pipefail
build_dir=$1
source_dir=$2
flags=${3:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/consumer" "$scratch/spool"
