// Measures zkspool-agent's memory (VmRSS, sampled every 20 ms, and the kernel's VmHWM peak) with
// 1 GiB of pending data: the largest intents the spool takes (1 MiB - 16 KiB of data each) until
// max_pending_bytes (1 GiB) refuses more, spooled over the agent's protocol while the ZooKeeper
// server is down; then, the server back but frozen (SIGSTOP) once the session is connected, the
// reconciler loads its window of pending intents and sends them to a server that does not
// answer. Also a 64 MiB request line without a newline, which the agent must refuse without
// buffering it.
// Usage: pending_memory_bench [AGENT_BINARY]   (default: the one built beside it)
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "harness/agent_process.h"
#include "harness/zk_ensemble.h"

namespace {

using namespace std::chrono_literals;
using zkspool::testing::AgentProcess;
using zkspool::testing::ZkEnsemble;

int64_t StatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

// The highest VmRSS seen since the last Take.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  int64_t Take() { return peak_.exchange(0); }

 private:
  void Run() {
    while (!stop_) {
      const int64_t rss = StatusKiB(pid_, "VmRSS");
      int64_t seen = peak_.load();
      while (rss > seen && !peak_.compare_exchange_weak(seen, rss)) {
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_{0};
  std::thread thread_;
};

double MiB(int64_t kib) { return static_cast<double>(kib) / 1024.0; }

}  // namespace

int main(int argc, char** argv) {
  const std::string agent_binary = argc > 1 ? argv[1] : ZKSPOOL_AGENT_BINARY;
  auto zk = ZkEnsemble::Start();
  char dir_template[] = "/var/tmp/zkspool-memory-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  AgentProcess agent(agent_binary, {"--spool", dir + "/spool", "--zk", zk->ConnectString(), "--session-timeout",
                                    "30000", "--log-level", "warn"});
  auto connected = [](const nlohmann::json& e) {
    return e.value("event", "") == "session" && e.value("state", "") == "connected";
  };
  if (!agent.WaitForEvent("ready", 30s) || !agent.WaitFor(connected, 30s)) {
    std::fprintf(stderr, "agent did not start: %s\n", agent.StderrTail().c_str());
    return 1;
  }
  RssSampler sampler(agent.pid());
  std::this_thread::sleep_for(500ms);
  const int64_t idle = sampler.Take();
  std::printf("idle, connected:                        RSS %.1f MiB\n", MiB(idle));

  // Spooled with the server down: the reconciler loads nothing while it has no connection.
  zk->Kill(0);
  agent.WaitFor([](const nlohmann::json& e) { return e.value("event", "") == "session"; }, 30s);
  const std::string data(1024 * 1024 - 16 * 1024, 'm');
  int spooled = 0;
  for (int i = 0;; ++i) {
    agent.Send(R"({"op":"register","path":"/memory/n)" + std::to_string(i) + R"(","data":")" + data + R"("})");
    auto reply = agent.WaitFor([](const nlohmann::json& e) {
      return e.value("event", "") == "spooled" || e.value("event", "") == "error";
    }, 60s);
    if (!reply || (*reply)["event"] != "spooled") break;
    ++spooled;
  }
  std::printf("spooled %d intents of %zu bytes (the spool refused the next: max_pending_bytes)\n", spooled,
              data.size());
  std::printf("1 GiB spooled, ZooKeeper down:           RSS peak %.1f MiB\n", MiB(sampler.Take()));
  // The server back, then frozen as soon as the session is: the reconciler loads its window and
  // sends to a server that does not answer (so ZooKeeper does not have to store 1 GiB).
  zk->Restart(0);
  agent.WaitFor(connected, 60s);
  zk->Freeze(0);
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(5s);
    agent.Send(R"({"op":"stats","id":"window"})");
    auto stats = agent.WaitForEvent("stats", 10s);
    std::printf("1 GiB pending, connected, window loaded: RSS peak %.1f MiB (%s)\n", MiB(sampler.Take()),
                stats ? stats->value("session_state", "?").c_str() : "no stats");
  }

  agent.Send(std::string(64 << 20, 'x'));
  agent.WaitForEvent("error", 60s);
  std::this_thread::sleep_for(500ms);
  std::printf("after a 64 MiB line without a newline:  RSS peak %.1f MiB\n", MiB(sampler.Take()));
  std::printf("kernel's peak (VmHWM) over the run:      %.1f MiB\n", MiB(StatusKiB(agent.pid(), "VmHWM")));
  zk->Thaw(0);
  agent.Kill();
  std::filesystem::remove_all(dir);
  return 0;
}
