// CPU time of this process's threads, for the scenario runners that report what the reconciler
// costs: its thread ("zkspool-recon") and the one that records outcomes ("zkspool-record").
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace zkspool::bench {

// CPU time of this process's thread named `name`, in nanoseconds (schedstat: the scheduler's
// own count, finer than the 10 ms ticks of stat); -1 if there is no such thread.
inline long long ThreadCpuNs(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string got;
    std::getline(comm, got);
    if (got != name) continue;
    std::ifstream schedstat(task.path() / "schedstat");
    long long on_cpu_ns = -1;
    schedstat >> on_cpu_ns;
    return on_cpu_ns;
  }
  return -1;
}

// The reconciler's two threads together (one Registrar in the process).
inline long long ReconcilerCpuNs() {
  return ThreadCpuNs("zkspool-recon") + std::max(ThreadCpuNs("zkspool-record"), 0LL);
}

// CPU time of this whole process (every thread, user and system), in seconds.
inline double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace zkspool::bench
