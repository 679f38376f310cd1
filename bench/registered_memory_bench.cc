// Scenario runner: what the registered set costs in memory. A process with N registered nodes
// (drained from its spool into a real server) runs anti-entropy passes over all of them; its RSS
// after them is compared with the same process holding 0 nodes, run the same way. Each size runs
// in a process of its own (this program again), so that one does not inherit the other's heap.
// Figures in docs/performance.md.
// Usage: registered_memory_bench [--registered N] [--passes P]   (defaults 100000, 2)
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/logger.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/zk_ensemble.h"
#include "zkspool/registrar.h"
#include "zkspool/spool.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

long StatusKiB(const char* field) {
  std::ifstream status("/proc/self/status");
  const size_t n = std::strlen(field);
  for (std::string line; std::getline(status, line);) {
    if (line.compare(0, n, field) == 0) return std::stol(line.substr(n + 1));
  }
  return -1;
}

// Child: `count` ephemerals drained into the server, then `passes` anti-entropy passes.
int Child(const std::string& hosts, const std::string& dir, long count, int passes) {
  auto quiet = std::make_shared<spdlog::logger>("bench");
  {
    zkspool::SpoolOptions so;
    so.durability = zkspool::Durability::kBuffered;  // filling is not what is measured
    so.logger = quiet;
    auto spool = zkspool::Spool::Open(dir, so);
    for (long i = 0; spool.ok() && i < count; ++i) {
      zkspool::Intent intent;
      intent.path = "/mem/svc" + std::to_string(i % 100) + "/host-" + std::to_string(i);
      intent.data = R"({"host":"10.0.)" + std::to_string(i % 250) + "." + std::to_string(i % 200) +
                    R"(","port":8080,"weight":1})";
      if (!(*spool)->Append(intent).ok()) return 1;
    }
  }
  zkspool::RegistrarOptions o;
  o.spool_dir = dir;
  o.hosts = hosts;
  o.session_timeout = 30s;
  o.anti_entropy_interval = 2s;
  o.spool.logger = quiet;
  auto registrar = zkspool::Registrar::Open(o);
  if (!registrar.ok()) return 1;
  auto& r = **registrar;
  const auto deadline = Clock::now() + 600s;
  while (r.Stats().spool.pending_count > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  const long drained_kib = StatusKiB("VmRSS:");
  const uint64_t scans = r.Stats().registered_scans;
  // A pass is over once its last node is pulled and nothing it started is still tracked.
  while ((r.Stats().registered_scans < scans + passes || r.Stats().paths_tracked > 0) && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  zkspool::RegistrarStats stats = r.Stats();
  std::printf("%8ld registered: RSS %6.1f MiB after the drain, %6.1f MiB after %d anti-entropy passes "
              "(peak %6.1f MiB); %lu registered in the spool\n",
              count, drained_kib / 1024.0, StatusKiB("VmRSS:") / 1024.0, passes, StatusKiB("VmHWM:") / 1024.0,
              static_cast<unsigned long>(stats.spool.registered_count));
  if (std::getenv("ZKSPOOL_BENCH_DETAIL")) {
    struct mallinfo2 mi = ::mallinfo2();
    std::printf("heap: %.1f MiB in arenas (main %.1f), %.1f MiB in use, %.1f MiB free; mmapped %.1f MiB\n",
                (mi.arena + mi.hblkhd) / 1048576.0, mi.arena / 1048576.0, mi.uordblks / 1048576.0,
                mi.fordblks / 1048576.0, mi.hblkhd / 1048576.0);
    std::ifstream rollup("/proc/self/smaps_rollup");
    for (std::string line; std::getline(rollup, line);) {
      if (line.rfind("Rss", 0) == 0 || line.rfind("Anonymous", 0) == 0 || line.rfind("Shared", 0) == 0 ||
          line.rfind("Private", 0) == 0) {
        std::printf("  %s\n", line.c_str());
      }
    }
  }
  if (std::getenv("ZKSPOOL_BENCH_TRIM")) {
    ::malloc_trim(0);
    std::printf("after malloc_trim: %6.1f MiB\n", StatusKiB("VmRSS:") / 1024.0);
  }
  std::printf("rss_kib %ld\n", StatusKiB("VmRSS:"));
  std::fflush(stdout);
  std::_Exit(0);  // the figures are taken; closing would end the session and wait for it
}

// Runs this program again as a child and returns the RSS it reports (KiB), -1 on failure.
long RunChild(const std::string& hosts, const std::string& dir, long count, int passes) {
  int out[2];
  if (::pipe(out) != 0) return -1;
  std::fflush(stdout);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    std::string n = std::to_string(count), p = std::to_string(passes);
    if (const char* wrapper = std::getenv("ZKSPOOL_BENCH_WRAP"); wrapper != nullptr && count > 0) {  // e.g. heaptrack
      ::execlp(wrapper, wrapper, self.c_str(), "--child", hosts.c_str(), dir.c_str(), n.c_str(), p.c_str(),
               nullptr);
    }
    ::execl("/proc/self/exe", "/proc/self/exe", "--child", hosts.c_str(), dir.c_str(), n.c_str(), p.c_str(), nullptr);
    std::_Exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = ::read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, got);
  ::close(out[0]);
  ::waitpid(child, nullptr, 0);
  long rss = -1;
  const size_t at = text.find("rss_kib ");
  if (at != std::string::npos) rss = std::stol(text.substr(at + 8));
  std::fputs(text.substr(0, at).c_str(), stdout);
  return rss;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::strcmp(argv[1], "--child") == 0) return Child(argv[2], argv[3], std::atol(argv[4]), std::atoi(argv[5]));
  long registered = 100'000;
  int passes = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--registered") == 0 && i + 1 < argc) {
      registered = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
      passes = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: registered_memory_bench [--registered N] [--passes P]\n");
      return 2;
    }
  }
  zkspool::testing::EnsembleOptions eo;
  eo.members = 1;  // memory is the client's; one server keeps the machine free for it
  auto zk = zkspool::testing::ZkEnsemble::Start(eo);
  std::string scratch = (std::filesystem::temp_directory_path() / "zkspool-mem-XXXXXX").string();
  if (::mkdtemp(scratch.data()) == nullptr) return 1;
  std::printf("registered_memory_bench: RSS of a registrar after %d anti-entropy passes, 0 vs %ld registered nodes\n", passes,
              registered);
  const long empty = RunChild(zk->ConnectString(), scratch + "/empty", 0, passes);
  const long full = RunChild(zk->ConnectString(), scratch + "/full", registered, passes);
  std::printf("difference: %+.1f MiB for %ld registered nodes (target: within 20 MiB)\n", (full - empty) / 1024.0,
              registered);
  std::filesystem::remove_all(scratch);
  return 0;
}
