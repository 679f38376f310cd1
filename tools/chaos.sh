#!/usr/bin/env bash
# A long chaos run (tests/chaos/chaos_run.cc): random faults of every kind against a 3-node
# ensemble and a Registrar owner process, invariants checked after each one.
#   tools/chaos.sh [--minutes N] [--seed S] [--only KIND]
#     defaults: 30 minutes, a random seed (printed), every kind; KIND as chaos_run --help lists
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30
seed=0
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    *) echo "usage: tools/chaos.sh [--minutes N] [--seed S] [--only KIND]" >&2; exit 2 ;;
  esac
done
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target chaos_run chaos_child >/dev/null
exec build/tests/chaos/chaos_run --child build/tests/chaos/chaos_child --seconds $((minutes * 60)) --seed "$seed" "${only[@]}"
