#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test with ctest.
# Exits non-zero on any failure; ctest prints its summary line.
#   ZKSPOOL_SANITIZE=1 tools/test.sh   the same under AddressSanitizer + UBSan (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${ZKSPOOL_SANITIZE:-0}" = 1 ]; then
  build_dir=build-asan
  cmake_args+=(-DZKSPOOL_SANITIZE=ON -DZKSPOOL_BUILD_BENCH=OFF)
  # Each suppression names the ZooKeeper C client's own leak it hides, and why.
  export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
fi

jobs=$(nproc)
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
ctest --output-on-failure -j "$jobs" --timeout 900
