#!/usr/bin/env bash
# Builds the Debian packages from a build tree with CPack and checks what an operator installs:
# the files each package holds, its control fields, the binaries from the package, the man
# pages, and the systemd unit (systemd-analyze verify: no complaint; security: exposure <= 2.0).
# Usage: check_deb.sh BUILD_DIR VERSION
set -euo pipefail
build_dir=$1
version=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "check_deb: $*" >&2; exit 1; }

cpack -G DEB -B "$scratch/out" --config "$build_dir/CPackConfig.cmake" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log" >&2; fail "cpack failed"; }
agent=$scratch/out/zkspool-agent_${version}_amd64.deb
dev=$scratch/out/libzkspool-dev_${version}_amd64.deb
[ -f "$agent" ] || fail "no $(basename "$agent"); cpack made: $(ls "$scratch/out")"
[ -f "$dev" ] || fail "no $(basename "$dev")"

expect_files() {  # DEB PATH...: each PATH must be in the package
  local deb=$1; shift
  local listing
  listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for path in "$@"; do
    grep -qx "./$path" <<<"$listing" || fail "$(basename "$deb") lacks $path"
  done
}
expect_files "$agent" usr/bin/zkspool-agent usr/bin/zkspoolctl \
  usr/lib/systemd/system/zkspool-agent.service usr/lib/sysusers.d/zkspool-agent.conf \
  usr/share/man/man8/zkspool-agent.8.gz usr/share/man/man8/zkspoolctl.8.gz \
  usr/share/doc/zkspool-agent/deploy.md usr/share/doc/zkspool-agent/agent.md \
  usr/share/doc/zkspool-agent/examples/agent.toml usr/share/doc/zkspool-agent/examples/registrations.json \
  usr/share/doc/zkspool-agent/examples/zkspool-alerts.yml
expect_files "$dev" usr/include/zkspool/registrar.h usr/include/zkspool/session_id.h usr/lib/libzkspool.a \
  usr/lib/cmake/zkspool/zkspoolConfig.cmake usr/lib/cmake/zkspool/zkspoolTargets.cmake

field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$agent" Package)" = zkspool-agent ] || fail "Package is $(field "$agent" Package)"
[ "$(field "$agent" Version)" = "$version" ] || fail "Version is $(field "$agent" Version)"
[ "$(field "$agent" Architecture)" = amd64 ] || fail "Architecture is $(field "$agent" Architecture)"
for lib in libzookeeper-mt2 librocksdb libcpp-httplib libsystemd0; do
  field "$agent" Depends | grep -q "$lib" || fail "Depends lacks $lib: $(field "$agent" Depends)"
done
dpkg-deb -I "$agent" postinst >/dev/null || fail "no postinst (the system user)"
dpkg-deb -I "$agent" postinst | grep -q systemd-sysusers || fail "postinst does not create the user"
dpkg-deb -I "$agent" prerm | grep -q 'systemctl stop zkspool-agent' || fail "prerm does not stop the agent on removal"
dpkg-deb -I "$agent" postrm | grep -q 'daemon-reload' || fail "postrm does not make systemd forget the unit"

root=$scratch/root
dpkg-deb -x "$agent" "$root"
"$root/usr/bin/zkspool-agent" --version | grep -q "^zkspool-agent $version" || fail "zkspool-agent --version"
"$root/usr/bin/zkspoolctl" --version | grep -q "^zkspoolctl $version" || fail "zkspoolctl --version"
zcat "$root/usr/share/man/man8/zkspool-agent.8.gz" | grep -q -- 'leave\\-on\\-terminate' ||
  fail "the man page does not document --leave-on-terminate"

unit=$root/usr/lib/systemd/system/zkspool-agent.service
grep -qx 'ExecStart=/usr/bin/zkspool-agent --config /etc/zkspool-agent/agent.toml' "$unit" || fail "ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
grep -qx 'RestartPreventExitStatus=2 3 4' "$unit" || fail "the unit restarts on exit 2, 3 or 4"
# verify checks that ExecStart exists, on this host: point it at the package's binary. It prints
# problems (an unknown key, a bad value) but exits 0 for most of them, so any output fails.
sed "s|^ExecStart=/usr/bin/zkspool-agent|ExecStart=$root/usr/bin/zkspool-agent|" "$unit" >"$scratch/zkspool-agent.service"
out=$(systemd-analyze verify --man=no "$scratch/zkspool-agent.service" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
exposure=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 |
  sed -n 's/.*Overall exposure level for zkspool-agent.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure is above 2.0"
echo "check_deb: $(basename "$agent") and $(basename "$dev") ok; unit verified, exposure $exposure"
