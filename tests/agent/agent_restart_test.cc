// A planned restart of zkspool-agent on a 3-member ensemble: SIGTERM keeps the ZooKeeper
// session, so the next start resumes it and no watcher sees a registration flap; with
// --leave-on-terminate the same SIGTERM removes every node at once.
#include <signal.h>

#include <chrono>
#include <map>
#include <sstream>

#include "agent_fixture.h"
#include "zkspool/session_id.h"

namespace zkspool {
namespace {

using testing::AgentFixture;
using testing::Eventually;
using testing::json;
using testing::ZkProbe;
using namespace std::chrono_literals;

constexpr int kNodes = 500;
// Long enough for a restart of the agent on a loaded machine, short enough for a test.
constexpr auto kSessionTimeout = 15s;

class AgentRestartTest : public AgentFixture {
 protected:
  AgentRestartTest() : AgentFixture(3) {}

  std::string WriteRegistrations() {
    std::ostringstream text;
    text << R"({"registrations": [)";
    for (int i = 0; i < kNodes; ++i) {
      text << (i ? "," : "") << R"({"path": "/fleet/n)" << i << R"(", "data": "10.0.0.)" << i % 250 << R"(:80"})";
    }
    text << "]}";
    const std::string file = dir_.Sub("registrations.json");
    WriteFile(file, text.str());
    return file;
  }
  std::vector<std::string> Args(const std::string& file, bool leave) {
    std::vector<std::string> args{"--registrations", file, "--session-timeout", "15s"};
    if (leave) args.push_back("--leave-on-terminate");
    return args;
  }
  static std::string SessionOf(const testing::AgentProcess& agent) {
    std::string id;
    for (const json& e : agent.events()) {
      if (testing::IsSessionConnected(e)) id = e.value("session_id", "");
    }
    return id;
  }
};

TEST_F(AgentRestartTest, SigtermAndRestartKeepEveryEphemeralWithItsOwnerAndLeaveOnTerminateRemovesThem) {
  const std::string file = WriteRegistrations();
  auto agent = StartConnected(Args(file, false));
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return probe.Children("/fleet").size() == kNodes; }, 60s))
      << probe.Children("/fleet").size() << " of " << kNodes << " registered\n" << agent->StderrTail();
  std::map<std::string, int64_t> owners;
  for (int i = 0; i < kNodes; ++i) {
    const std::string path = "/fleet/n" + std::to_string(i);
    auto node = probe.Get(path);
    ASSERT_TRUE(node) << path;
    owners[path] = node->ephemeral_owner;
    probe.Watch(path);  // a discovery client's watch: fires NodeDeleted if the node flaps
  }
  const int64_t session = owners.begin()->second;
  ASSERT_NE(session, 0);
  EXPECT_EQ(SessionOf(*agent), FormatSessionId(session));

  agent->Signal(SIGTERM);
  auto closed = agent->WaitForEvent("closed", 30s);
  ASSERT_TRUE(closed) << agent->StderrTail();
  EXPECT_EQ((*closed)["session"], "kept");
  ASSERT_EQ(agent->WaitExit(30s), 0) << agent->StderrTail();
  const auto exited = std::chrono::steady_clock::now();

  auto again = StartConnected(Args(file, true));
  ASSERT_LT(std::chrono::steady_clock::now() - exited, kSessionTimeout) << "the restart took too long to prove anything";
  EXPECT_EQ(SessionOf(*again), FormatSessionId(session)) << "the kept session was not resumed\n" << again->StderrTail();
  // The file sync finds nothing to change: the spool still holds all of it.
  auto synced = EventNamed(*again, "synced");
  ASSERT_TRUE(synced) << again->StderrTail();
  EXPECT_EQ((*synced)["registers"], 0);
  EXPECT_EQ((*synced)["deregisters"], 0);
  ASSERT_TRUE(again->Send(R"({"op":"stats","id":1})"));
  auto stats = again->WaitForEvent("stats", 10s);
  ASSERT_TRUE(stats);
  EXPECT_EQ((*stats)["sessions_started"], 0);
  for (const auto& [path, owner] : owners) {
    auto node = probe.Get(path);
    ASSERT_TRUE(node) << path << " is gone";
    EXPECT_EQ(node->ephemeral_owner, owner) << path;
  }
  EXPECT_EQ(probe.DeletedEvents(), 0) << "watchers saw registrations flap";

  // This run has --leave-on-terminate: the same SIGTERM ends the session, nodes go at once.
  again->Signal(SIGTERM);
  auto ended = again->WaitForEvent("closed", 30s);
  ASSERT_TRUE(ended) << again->StderrTail();
  EXPECT_EQ((*ended)["session"], "ended");
  ASSERT_EQ(again->WaitExit(30s), 0) << again->StderrTail();
  EXPECT_TRUE(Eventually([&] { return probe.Children("/fleet").empty(); }, 1s))
      << probe.Children("/fleet").size() << " nodes still there a second after the exit";
}

}  // namespace
}  // namespace zkspool
