// Scenario runner: what a backlog costs while nothing can be applied. For spools holding 0,
// 100,000 and 1,000,000 pending intents (figures in docs/performance.md):
//   open   Spool::Open's wall time and the process's RSS after it, in a fresh child process
//   idle   the reconciler's CPU over --seconds with ZooKeeper unreachable (a port nobody
//          listens on), read from /proc/self/task/<tid>/schedstat of its threads (zkspool-recon
//          and zkspool-record)
// Every figure is compared with the one at 0 pending, measured in the same run.
// Usage: idle_bench [--pending N[,N...]] [--seconds S] [--ttl-every K]
//   --ttl-every K  every K-th intent gets a TTL of an hour (default 10): the expiry index is
//                  not empty, as on a real host, and nothing expires during the run
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/logger.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "thread_cpu.h"
#include "zkspool/registrar.h"
#include "zkspool/spool.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

long RssKiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::shared_ptr<spdlog::logger> Quiet() { return std::make_shared<spdlog::logger>("bench"); }

void Fill(const std::string& dir, long pending, long ttl_every) {
  zkspool::SpoolOptions so;
  so.durability = zkspool::Durability::kBuffered;  // filling is not what is measured
  so.logger = Quiet();
  auto spool = zkspool::Spool::Open(dir, so);
  if (!spool.ok()) {
    std::fprintf(stderr, "%s\n", spool.status().ToString().c_str());
    std::exit(1);
  }
  for (long i = 0; i < pending; ++i) {
    zkspool::Intent intent;
    intent.path = "/idle/svc" + std::to_string(i % 100) + "/n" + std::to_string(i);
    intent.data = "endpoint-" + std::to_string(i);
    auto ttl = ttl_every > 0 && i % ttl_every == 0 ? std::chrono::milliseconds(3'600'000) : 0ms;
    if (!(*spool)->Append(intent, ttl).ok()) std::exit(1);
  }
}

// Runs this program again with `args` and waits for it: a child that opens a spool must not be a
// fork of a process whose RocksDB background threads the fork would leave behind.
int RunSelf(const std::vector<std::string>& args) {
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child == 0) {
    std::vector<char*> argv = {const_cast<char*>("/proc/self/exe")};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Child: appends `extra` intents and dies without closing the spool, as a kill -9 would leave
// it: the next Open replays the log.
int CrashAfterAppending(const std::string& dir, long extra) {
  zkspool::SpoolOptions so;
  so.durability = zkspool::Durability::kBuffered;
  so.logger = Quiet();
  auto spool = zkspool::Spool::Open(dir, so);
  for (long i = 0; spool.ok() && i < extra; ++i) {
    zkspool::Intent intent;
    intent.path = "/idle/crash/n" + std::to_string(i);
    intent.data = "endpoint-" + std::to_string(i);
    if (!(*spool)->Append(intent).ok()) break;
  }
  std::_Exit(0);
}

// Child: opens the spool (so the RSS is the spool's alone) and prints what it cost.
int MeasureOpen(const std::string& dir) {
  const long before = RssKiB();
  zkspool::SpoolOptions so;
  so.logger = Quiet();
  const auto start = Clock::now();
  auto spool = zkspool::Spool::Open(dir, so);
  const double took = Seconds(Clock::now() - start);
  if (!spool.ok()) {
    std::printf("open failed: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  std::printf("open   %8lu pending: %7.3f s, RSS %6.1f MiB (%+.1f MiB for the open spool)\n",
              static_cast<unsigned long>((*spool)->Stats()->pending_count), took, RssKiB() / 1024.0,
              (RssKiB() - before) / 1024.0);
  std::fflush(stdout);
  std::_Exit(0);  // the open itself was measured; closing it would flush
}

// The reconciler thread's share of a core over `seconds` with no server to talk to.
double MeasureIdle(const std::string& dir, const std::string& unreachable, int seconds) {
  zkspool::RegistrarOptions o;
  o.spool_dir = dir;
  o.hosts = unreachable;
  o.spool.logger = Quiet();
  auto registrar = zkspool::Registrar::Open(o);
  if (!registrar.ok()) {
    std::fprintf(stderr, "%s\n", registrar.status().ToString().c_str());
    std::exit(1);
  }
  std::this_thread::sleep_for(2s);  // past start-up
  const long long cpu0 = zkspool::bench::ReconcilerCpuNs();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const long long cpu1 = zkspool::bench::ReconcilerCpuNs();
  const double wall = Seconds(Clock::now() - t0);
  (void)(*registrar)->Close();
  return (cpu1 - cpu0) / 1e9 / wall;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--child-open") == 0) return MeasureOpen(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "--child-crash") == 0) return CrashAfterAppending(argv[2], std::atol(argv[3]));
  std::vector<long> pendings = {0, 100'000, 1'000'000};
  int seconds = 30;
  long ttl_every = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--pending") == 0 && i + 1 < argc) {
      pendings.clear();
      std::stringstream list(argv[++i]);
      for (std::string n; std::getline(list, n, ',');) pendings.push_back(std::stol(n));
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--ttl-every") == 0 && i + 1 < argc) {
      ttl_every = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: idle_bench [--pending N[,N...]] [--seconds S] [--ttl-every K]\n");
      return 2;
    }
  }
  std::string scratch = (std::filesystem::temp_directory_path() / "zkspool-idle-XXXXXX").string();
  if (::mkdtemp(scratch.data()) == nullptr) return 1;
  // A port nobody listens on: connections are refused at once, the client keeps trying.
  const std::string unreachable = "127.0.0.1:1";
  std::printf("idle_bench: reconciler CPU over %d s with ZooKeeper unreachable; every %ld-th intent has a TTL\n",
              seconds, ttl_every);
  double at_zero = -1;
  for (long pending : pendings) {
    const std::string dir = scratch + "/p" + std::to_string(pending);
    const auto fill_start = Clock::now();
    Fill(dir, pending, ttl_every);
    std::printf("filled %8ld pending in %.1f s\n", pending, Seconds(Clock::now() - fill_start));
    std::fflush(stdout);
    RunSelf({"--child-open", dir});
    if (pending > 0) {  // after a crash that left the latest appends only in the log
      const long extra = std::min<long>(pending / 2, 1'000'000 - pending);
      RunSelf({"--child-crash", dir, std::to_string(extra)});
      std::printf("after a kill -9 that left up to %ld more appends in the log:\n", extra);
      RunSelf({"--child-open", dir});
    }
    const double share = MeasureIdle(dir, unreachable, seconds);
    if (pending == 0) at_zero = share;
    std::printf("idle   %8ld pending: reconciler thread %.4f%% of a core", pending, share * 100);
    if (at_zero > 0 && pending != 0) std::printf(" (%.2fx the figure at 0)", share / at_zero);
    std::printf("\n");
    std::fflush(stdout);
    std::filesystem::remove_all(dir);
  }
  std::filesystem::remove_all(scratch);
  return 0;
}
