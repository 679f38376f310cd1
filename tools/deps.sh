#!/usr/bin/env bash
# Installs the Debian 12 packages zkspool needs to build, test and demo, only if any is missing.
# A no-op on a ready machine. Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake g++
  libzookeeper-mt-dev zookeeper default-jre-headless
  librocksdb-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  libcpp-httplib-dev libsystemd-dev   # the agent's control API (HTTP) and sd_notify
  systemd                             # systemd-analyze: the packaging test checks the unit with it
  help2man dpkg-dev                   # man pages from --help; dpkg-shlibdeps for the .deb's Depends
  prometheus                          # promtool: the shipped alert rules are checked and unit-tested
  procps
  clang-14 libclang-rt-14-dev   # tools/fuzz.sh: clang++-14 and its libFuzzer runtime
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
