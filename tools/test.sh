#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test with ctest.
# Exits non-zero on any failure; ctest prints its summary line.
#   ZKSPOOL_SANITIZE=1 tools/test.sh        the same under AddressSanitizer + UBSan (build-asan/)
#   ZKSPOOL_SANITIZE=thread tools/test.sh   the tests labelled tsan under ThreadSanitizer (build-tsan/)
# A plain or ASan run ends with a short libFuzzer run of every target in tests/fuzz (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
ctest_args=()
build_targets=(all)
fuzz=1
case "${ZKSPOOL_SANITIZE:-0}" in
  0|"") ;;
  1|ON|on|address)
    build_dir=build-asan
    cmake_args+=(-DZKSPOOL_SANITIZE=ON -DZKSPOOL_BUILD_BENCH=OFF)
    # Each suppression names the ZooKeeper C client's own leak it hides, and why.
    export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
    ;;
  thread)
    build_dir=build-tsan
    cmake_args+=(-DZKSPOOL_SANITIZE=thread -DZKSPOOL_BUILD_BENCH=OFF)
    # The unit tests and the harness, Registrar / reconciler / session and agent tests (the
    # hostile ones included: the agent's signal thread, the session's resolver thread). The
    # chaos, crash, ctl and demo runs would add an hour under TSan and start no thread of ours
    # that these do not. Only these targets are built; ctest lists the tests of the others as
    # *_NOT_BUILT without labels, so -L drops them, and -E drops the unbuilt add_test ones.
    build_targets=(status_test record_codec_test validate_test spool_test spool_reader_test
      spool_power_loss_test spool_batch_test apply_task_test agent_logic_test harness_test registrar_child
      registrar_test drain_test ensemble_faults_test access_control_test zkspool-agent agent_test
      hostile_signal_test hostile_agent_test hostile_dns_test)
    ctest_args+=(-L 'unit|integration|hostile' -E '^(reconcile_crash_test|chaos_short_seed.*|live_demo_smoke)$')
    # halt_on_error: a report in a child (the agent, registrar_child) ends it, so the test that
    # started it fails instead of the report scrolling past in a log. history_size: see tsan.supp.
    export TSAN_OPTIONS="suppressions=$PWD/tools/tsan.supp:halt_on_error=1:history_size=5:ignore_noninstrumented_modules=1:second_deadlock_stack=1"
    fuzz=0  # the fuzzers have their own ASan build; running them again here adds nothing
    ;;
  *) echo "test.sh: ZKSPOOL_SANITIZE must be 1 (address) or thread, not '$ZKSPOOL_SANITIZE'" >&2; exit 2 ;;
esac

jobs=$(nproc)
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"
(cd "$build_dir" && ctest --output-on-failure -j "$jobs" --timeout 900 "${ctest_args[@]}")
if [ "$fuzz" = 1 ]; then
  tools/fuzz.sh --seconds 20
fi
