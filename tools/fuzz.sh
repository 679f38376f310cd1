#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14, ASan and UBSan in build-fuzz/ and runs
# each for N seconds (default 30) over a scratch copy of its checked-in seed corpus, so a run never
# writes into the repository. Fails on any crash, sanitizer report, leak or timeout; the input that
# caused it is kept in the scratch directory, whose path is printed.
#   tools/fuzz.sh [--seconds N] [TARGET...]   TARGET: record_fuzz log_scan_fuzz request_fuzz registrations_fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then targets=(record_fuzz log_scan_fuzz request_fuzz registrations_fuzz); fi

tools/deps.sh
cmake -S . -B build-fuzz -DZKSPOOL_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

scratch=$(mktemp -d -t zkspool-fuzz.XXXXXX)
keep=0
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
for t in "${targets[@]}"; do
  corpus="$scratch/$t"
  mkdir -p "$corpus" "$scratch/$t-artifacts"
  cp tests/fuzz/corpus/"${t%_fuzz}"/* "$corpus"/
  # -timeout: one input taking 10 s is a hang worth failing on. -rss_limit_mb keeps a runaway
  # allocation a finding, not a machine-wide OOM. The last lines carry the execution count.
  if build-fuzz/tests/fuzz/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=8192 -print_final_stats=1 -artifact_prefix="$scratch/$t-artifacts/" \
       "$corpus" >"$scratch/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log")
    echo "fuzz: $t ok: $runs executions in ${seconds}s, corpus $(ls "$corpus" | wc -l) inputs"
  else
    status=1
    keep=1
    tail -n 60 "$scratch/$t.log" >&2
    echo "fuzz: $t FAILED; log and crashing input in $scratch" >&2
  fi
done
exit "$status"
