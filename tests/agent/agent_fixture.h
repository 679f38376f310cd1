// What every test of the zkspool-agent binary starts from: a real ZooKeeper server (or a
// 3-member ensemble), a scratch directory, and an agent child process that is waited for.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/agent_process.h"
#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zk_probe.h"

namespace zkspool::testing {

using namespace std::chrono_literals;
using nlohmann::json;

inline bool IsSessionConnected(const json& e) {
  return e.value("event", "") == "session" && e.value("state", "") == "connected";
}

class AgentFixture : public ::testing::Test {
 protected:
  // A standalone server; a fixture that needs a quorum ensemble passes 3.
  explicit AgentFixture(int members = 1) : members_(members) {}
  void SetUp() override { zk_ = ZkEnsemble::Start({.members = members_}); }

  std::unique_ptr<AgentProcess> StartAgent(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--spool", dir_.Sub("spool"), "--zk", zk_->ConnectString(),
                                  "--session-timeout", "4000", "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<AgentProcess>(ZKSPOOL_AGENT_BINARY, args);
  }
  // Starts an agent and waits for "ready" and a connected session.
  std::unique_ptr<AgentProcess> StartConnected(std::vector<std::string> extra = {}) {
    auto agent = StartAgent(std::move(extra));
    EXPECT_TRUE(agent->WaitForEvent("ready", 30s)) << agent->StderrTail();
    // The session may connect while the registrations file is still being spooled, before "ready".
    const bool seen = std::any_of(agent->events().begin(), agent->events().end(), IsSessionConnected);
    EXPECT_TRUE(seen || agent->WaitFor(IsSessionConnected, 30s)) << agent->StderrTail();
    return agent;
  }
  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  // The first event named `name`, among those already read or, failing that, the next ones.
  static std::optional<json> EventNamed(AgentProcess& agent, const std::string& name,
                                        std::chrono::milliseconds timeout = 30s) {
    for (const json& e : agent.events()) {
      if (e.value("event", "") == name) return e;
    }
    return agent.WaitForEvent(name, timeout);
  }
  // Sends a register or deregister line and waits until it is spooled and applied; its seq.
  static uint64_t SpoolAndApply(AgentProcess& agent, const std::string& request) {
    EXPECT_TRUE(agent.Send(request));
    auto spooled = agent.WaitForEvent("spooled", 10s);
    EXPECT_TRUE(spooled) << agent.StderrTail();
    if (!spooled) return 0;
    const uint64_t seq = (*spooled)["seq"];
    EXPECT_TRUE(WaitApplied(agent, seq)) << agent.StderrTail();
    return seq;
  }
  // The applied event for `seq`, read past anything else.
  static bool WaitApplied(AgentProcess& agent, uint64_t seq) {
    for (const json& e : agent.events()) {
      if (e.value("event", "") == "applied" && e.value("seq", uint64_t{0}) == seq) return true;
    }
    return agent
        .WaitFor([seq](const json& e) { return e.value("event", "") == "applied" && e.value("seq", uint64_t{0}) == seq; },
                 30s)
        .has_value();
  }

  const int members_;
  TempDir dir_;
  std::unique_ptr<ZkEnsemble> zk_;
};

}  // namespace zkspool::testing
