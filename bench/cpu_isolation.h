// Keeping the servers and the client under test off each other's CPUs, for the scenario runners.
//
// On a small machine the three loopback servers and the client share the same cores, so whatever
// CPU the client spends is taken from the servers: a client that does more per operation (the
// reconciler records every outcome in its spool; a raw loop records nothing) then looks slower
// against the same servers although it keeps them just as busy. In production the ensemble runs
// on machines of its own. Isolating puts every thread of the servers on the first half of the
// CPUs and every thread of this process on the other half, so both loops face the same servers
// and pay for their own CPU on their own cores.
#pragma once

#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "harness/zk_ensemble.h"

namespace zkspool::bench {

// Sets the CPUs of every thread of process `pid`. Threads started later inherit the affinity of
// the thread that starts them, so this covers them too; one started during the walk by a thread
// not yet moved may be missed (the servers are idle when the bench pins them). False if a
// thread that still runs could not be moved.
inline bool PinProcess(pid_t pid, const cpu_set_t& cpus) {
  bool ok = true;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
    if (::sched_setaffinity(tid, sizeof cpus, &cpus) != 0 && errno != ESRCH) ok = false;  // ESRCH: it ended
  }
  return ok && !ec;
}

// The servers of `zk` on the first half of the CPUs this process may use, this process on the
// rest. Call again after a member is restarted: its new JVM starts with the affinity of this
// process (and sizes its thread pools for those CPUs). False with fewer than 2 CPUs or if a
// thread could not be moved.
inline bool IsolateServers(const zkspool::testing::ZkEnsemble& zk) {
  // The CPUs this process had before the first call (later calls find it pinned already).
  static const cpu_set_t all = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) CPU_ZERO(&set);
    return set;
  }();
  const int n = CPU_COUNT(&all);
  if (n < 2) return false;
  cpu_set_t servers, client;
  CPU_ZERO(&servers);
  CPU_ZERO(&client);
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE && seen < n; ++cpu) {
    if (!CPU_ISSET(cpu, &all)) continue;
    CPU_SET(cpu, seen++ < n / 2 ? &servers : &client);
  }
  bool ok = true;
  for (int m = 0; m < zk.size(); ++m) {
    if (zk.Pid(m) > 0) ok = PinProcess(zk.Pid(m), servers) && ok;
  }
  return PinProcess(::getpid(), client) && ok;
}

}  // namespace zkspool::bench
