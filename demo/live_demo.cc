// The whole promise, end to end, on one machine: a 3-node ZooKeeper ensemble on loopback, an
// edge host registering services through zkspool-agent, the leader SIGKILLed in the middle of
// the burst, registering on through the election, then a kill -9 and restart of the agent.
// Ends with a check that ZooKeeper holds exactly what was registered, and a verdict line.
//
//   live_demo --agent PATH [--services N] [--interval-ms MS]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "harness/agent_process.h"
#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "timeline.h"
#include "zk_probe.h"

namespace zkspool::demo {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::AgentProcess;
using testing::Eventually;
using testing::ZkEnsemble;
using testing::ZkProbe;

std::atomic<bool> interrupted{false};

struct Settings {
  std::string agent;
  int services = 400;
  int interval_ms = 10;
};

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

void CheckInterrupt() {
  if (interrupted) throw Interrupted();
}

std::string ServicePath(int i) {
  char name[64];
  std::snprintf(name, sizeof name, "/demo/services/svc-%04d", i);
  return name;
}
std::string ServiceData(int i) { return "{\"host\":\"10.1.0." + std::to_string(i % 250) + "\",\"port\":8080}"; }

// Watches the ensemble from its own thread and turns leader changes into milestones.
class LeaderWatcher {
 public:
  LeaderWatcher(const ZkEnsemble& zk, Timeline& timeline) : zk_(zk), timeline_(timeline) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LeaderWatcher() {
    stop_ = true;
    thread_.join();
  }

 private:
  void Run() {
    int last = -2;
    while (!stop_) {
      int leader = zk_.Leader(0ms);
      if (leader != last) {
        timeline_.Milestone(leader < 0 ? "ensemble: no leader (election in progress)"
                                       : "ensemble: member " + std::to_string(leader) + " is the leader");
        last = leader;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  const ZkEnsemble& zk_;
  Timeline& timeline_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Turns agent events into timeline entries; returns the event.
std::optional<json> Pump(AgentProcess& agent, Timeline& timeline, std::chrono::milliseconds timeout) {
  std::optional<json> e = agent.NextEvent(timeout);
  if (!e) return e;
  const std::string kind = e->value("event", "");
  if (kind == "spooled") timeline.Spooled((*e)["path"]);
  if (kind == "applied") timeline.Applied((*e)["path"]);
  if (kind == "session") timeline.Milestone("agent: ZooKeeper session " + e->value("session_id", "") + " " +
                                            e->value("state", ""));
  if (kind == "error") timeline.Milestone("agent: ERROR " + e->dump());
  return e;
}

std::unique_ptr<AgentProcess> StartAgent(const Settings& s, const std::string& spool, const std::string& hosts,
                                         Timeline& timeline) {
  auto agent = std::make_unique<AgentProcess>(
      s.agent, std::vector<std::string>{"--spool", spool, "--zk", hosts, "--session-timeout", "6000",
                                        "--log-level", "warn"});
  for (;;) {
    CheckInterrupt();
    auto e = Pump(*agent, timeline, 30s);
    if (!e) throw std::runtime_error("the agent did not start:\n" + agent->StderrTail());
    if (e->value("event", "") == "ready") break;
  }
  timeline.Milestone("agent: started (pid " + std::to_string(agent->pid()) + "), spool " + spool);
  return agent;
}

void Register(AgentProcess& agent, Timeline& timeline, int i) {
  timeline.Sent(ServicePath(i));
  agent.SendJson(json{{"op", "register"}, {"path", ServicePath(i)}, {"data", ServiceData(i)}, {"mode", "ephemeral"},
                      {"id", i}});
}

// Reads events until every path in `want` was applied (or the deadline passes).
bool WaitAllApplied(AgentProcess& agent, Timeline& timeline, std::map<std::string, bool>& applied,
                    std::chrono::milliseconds timeout) {
  const auto deadline = Timeline::Clock::now() + timeout;
  auto all = [&] {
    return std::all_of(applied.begin(), applied.end(), [](const auto& e) { return e.second; });
  };
  while (!all()) {
    CheckInterrupt();
    if (Timeline::Clock::now() > deadline) return false;
    auto e = Pump(agent, timeline, 200ms);
    if (e && e->value("event", "") == "applied") applied[(*e)["path"]] = true;
  }
  return true;
}

// What ZooKeeper holds under /demo/services, compared with what was registered.
bool ZooKeeperHoldsExactly(ZkProbe& probe, int count, int64_t owner, std::string& why) {
  std::vector<std::string> children = probe.Children("/demo/services");
  if (children.size() != static_cast<size_t>(count)) {
    why = std::to_string(children.size()) + " nodes under /demo/services, expected " + std::to_string(count);
    return false;
  }
  for (int i = 0; i < count; ++i) {
    auto node = probe.Get(ServicePath(i));
    if (!node || node->data != ServiceData(i) || node->ephemeral_owner != owner) {
      why = ServicePath(i) + (node ? " has other data or owner" : " is missing");
      return false;
    }
  }
  return true;
}

int Run(const Settings& s) {
  testing::TempDir scratch;
  Timeline timeline;
  std::printf("== zkspool live demo: %d service registrations through a leader failure ==\n\n", s.services);
  timeline.Milestone("starting a 3-node ZooKeeper ensemble on 127.0.0.1 (Debian's zookeeper package)");
  auto zk = ZkEnsemble::Start({.members = 3, .tick_ms = 100, .max_session_timeout_ms = 60000, .force_sync = true});
  timeline.Milestone("ensemble serving at " + zk->ConnectString());
  LeaderWatcher watcher(*zk, timeline);
  const std::string spool = scratch.Sub("spool");
  auto agent = StartAgent(s, spool, zk->ConnectString(), timeline);
  while (!agent->WaitFor([&](const json& e) { return e.value("state", "") == "connected"; }, 100ms)) CheckInterrupt();

  // The burst: one registration every interval; the leader dies a third of the way in.
  timeline.Milestone("edge host: registering " + std::to_string(s.services) + " services, one every " +
                     std::to_string(s.interval_ms) + " ms");
  std::map<std::string, bool> applied;
  const int kill_at = s.services / 3;
  int killed_leader = -1;
  for (int i = 0; i < s.services; ++i) {
    CheckInterrupt();
    if (i == kill_at) {
      killed_leader = zk->Leader(5s);
      zk->Kill(killed_leader);
      timeline.Milestone("FAULT: SIGKILL of the leader, member " + std::to_string(killed_leader));
    }
    Register(*agent, timeline, i);
    applied[ServicePath(i)] = false;
    const auto next = Timeline::Clock::now() + std::chrono::milliseconds(s.interval_ms);
    while (Timeline::Clock::now() < next) {
      auto e = Pump(*agent, timeline, std::chrono::duration_cast<std::chrono::milliseconds>(next - Timeline::Clock::now()));
      if (e && e->value("event", "") == "applied") applied[(*e)["path"]] = true;
    }
  }
  timeline.Milestone("edge host: all " + std::to_string(s.services) + " register calls made");
  if (!WaitAllApplied(*agent, timeline, applied, 60s)) throw std::runtime_error("backlog not drained in 60 s");
  timeline.Milestone("backlog drained: every registration is in ZooKeeper");
  timeline.Print(250ms);
  std::printf("\n  longest wait for \"spooled\" (what a register call costs, fsync included): %lld ms\n"
              "  longest time from spooled to applied (the election): %lld ms\n\n",
              static_cast<long long>(timeline.MaxSentToSpooled().count()),
              static_cast<long long>(timeline.MaxSpooledToApplied().count()));

  ZkProbe probe(zk->ConnectString());
  auto stats_of = [&](AgentProcess& a) {
    a.SendJson(json{{"op", "stats"}, {"id", "stats"}});
    for (;;) {
      CheckInterrupt();
      auto e = Pump(a, timeline, 10s);
      if (!e) throw std::runtime_error("no stats reply");
      if (e->value("event", "") == "stats") return *e;
    }
  };
  const json before = stats_of(*agent);
  const int64_t session = std::stoll(before["session_id"].get<std::string>(), nullptr, 16);
  std::string why;
  bool exact = ZooKeeperHoldsExactly(probe, s.services, session, why);
  timeline.Milestone(std::string("check: ") + (exact ? "ZooKeeper holds exactly the " + std::to_string(s.services) +
                                                           " registrations, data and owner session right"
                                                     : "MISMATCH: " + why));

  // kill -9 of the agent right after more registrations were acknowledged.
  zk->Restart(killed_leader);
  const int more = s.services / 10;
  for (int i = s.services; i < s.services + more; ++i) {
    Register(*agent, timeline, i);
    applied[ServicePath(i)] = false;
  }
  int acknowledged = 0;
  while (acknowledged < more) {
    CheckInterrupt();
    auto e = Pump(*agent, timeline, 10s);
    if (!e) throw std::runtime_error("no spooled events");
    if (e->value("event", "") == "spooled") ++acknowledged;
  }
  agent->Kill();
  timeline.Milestone("FAULT: kill -9 of the agent right after " + std::to_string(more) +
                     " more registrations were acknowledged");
  const size_t while_down = probe.Children("/demo/services").size();
  timeline.Milestone("while the agent is dead: ZooKeeper holds " + std::to_string(while_down) + " of " +
                     std::to_string(s.services + more) +
                     " (its session lives on until the timeout; the rest wait in the spool)");
  agent = StartAgent(s, spool, zk->ConnectString(), timeline);
  for (auto& [path, done] : applied) done = done || probe.Get(path).has_value();
  if (!WaitAllApplied(*agent, timeline, applied, 60s)) throw std::runtime_error("restarted agent did not drain");
  const json after = stats_of(*agent);
  const bool resumed = after["session_id"] == before["session_id"];
  timeline.Milestone(std::string("agent: restarted ") +
                     (resumed ? "and resumed session " + after["session_id"].get<std::string>() +
                                    ": the ephemeral nodes never went away"
                              : "with a new session " + after["session_id"].get<std::string>() +
                                    ": nodes re-created"));
  const int total = s.services + more;
  const int64_t owner = std::stoll(after["session_id"].get<std::string>(), nullptr, 16);
  bool exact_after = Eventually([&] { return ZooKeeperHoldsExactly(probe, total, owner, why); }, 30s);
  timeline.Milestone(std::string("check: ") + (exact_after ? "ZooKeeper holds exactly the " + std::to_string(total) +
                                                                 " registrations"
                                                           : "MISMATCH: " + why));
  agent->Signal(SIGTERM);
  agent->WaitExit(30s);

  const bool ok = exact && exact_after;
  std::printf("\nverdict: %s\n",
              ok ? "every registration reached ZooKeeper through a leader kill and an agent kill -9, nothing lost, "
                   "nothing extra"
                 : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace zkspool::demo

int main(int argc, char** argv) {
  zkspool::demo::Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--agent") {
      s.agent = value();
    } else if (arg == "--services") {
      s.services = std::atoi(value().c_str());
    } else if (arg == "--interval-ms") {
      s.interval_ms = std::atoi(value().c_str());
    } else {
      std::fprintf(stderr, "usage: live_demo --agent PATH [--services N] [--interval-ms MS]\n");
      return 2;
    }
  }
  if (s.agent.empty() || s.services < 10 || s.interval_ms < 0) {
    std::fprintf(stderr, "usage: live_demo --agent PATH [--services N>=10] [--interval-ms MS]\n");
    return 2;
  }
  struct sigaction on_interrupt {};
  on_interrupt.sa_handler = [](int) { zkspool::demo::interrupted = true; };
  sigaction(SIGINT, &on_interrupt, nullptr);
  sigaction(SIGTERM, &on_interrupt, nullptr);
  try {
    return zkspool::demo::Run(s);
  } catch (const zkspool::demo::Interrupted&) {
    std::printf("\ninterrupted: every process the demo started is stopped\n");
    return 130;
  } catch (const std::exception& e) {
    std::printf("\nverdict: FAILED: %s\n", e.what());
    return 1;
  }
}
