#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the live demo: a local
# 3-node ZooKeeper ensemble, zkspool-agent registering an edge host's services, the leader
# SIGKILLed mid-burst, the agent kill -9'd and restarted, and a final check of ZooKeeper.
#   tools/demo.sh [--services N] [--interval-ms MS]
# Every process it starts is stopped when it ends, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
echo "building (first run: a few minutes)..." >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target zkspool-agent live_demo >/dev/null
exec build/demo/live_demo --agent build/agent/zkspool-agent "$@"
