#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demo.
# Until the reconciler lands, the demo shows the spool on its own: registrations acknowledged
# only once durable survive a kill -9 of the registering process.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target spool_demo >/dev/null
exec build/demo/spool_demo "$@"
