// CPU time of one of this process's threads, for the scenario runners that report what the
// reconciler thread ("zkspool-recon") costs.
#pragma once

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

}  // namespace zkspool::bench
