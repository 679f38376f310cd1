// zkspool-agent driven over its JSON-lines protocol, against a real ZooKeeper server.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agent_fixture.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::AgentFixture;
using testing::AgentProcess;
using testing::Eventually;
using testing::ZkEnsemble;
using testing::ZkProbe;

class AgentTest : public AgentFixture {};

TEST_F(AgentTest, RegisterDeregisterAndStatsOverTheProtocol) {
  auto agent = StartConnected();
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(agent->SendJson(json{{"op", "register"}, {"path", "/svc/api/host-1"}, {"data", "10.0.0.1:80"},
                               {"mode", "ephemeral"}, {"id", "r1"}}));
  auto spooled = agent->WaitForEvent("spooled", 10s);
  ASSERT_TRUE(spooled) << agent->StderrTail();
  EXPECT_EQ((*spooled)["id"], "r1");
  EXPECT_EQ((*spooled)["path"], "/svc/api/host-1");
  const uint64_t seq = (*spooled)["seq"];
  ASSERT_TRUE(WaitApplied(*agent, seq));
  auto node = probe.Get("/svc/api/host-1");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->data, "10.0.0.1:80");
  EXPECT_NE(node->ephemeral_owner, 0);

  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":2})"));
  auto stats = agent->WaitForEvent("stats", 10s);
  ASSERT_TRUE(stats);
  EXPECT_EQ((*stats)["id"], 2);
  EXPECT_EQ((*stats)["registered"], 1);
  EXPECT_EQ((*stats)["pending"], 0);
  EXPECT_EQ((*stats)["session_state"], "connected");
  EXPECT_GE((*stats)["applied"].get<uint64_t>(), 1u);

  ASSERT_TRUE(agent->SendJson(json{{"op", "deregister"}, {"path", "/svc/api/host-1"}, {"id", "d1"}}));
  auto removed = agent->WaitFor([](const json& e) { return e.value("id", json()) == "d1"; }, 10s);
  ASSERT_TRUE(removed);
  EXPECT_EQ((*removed)["event"], "spooled");
  ASSERT_TRUE(WaitApplied(*agent, (*removed)["seq"]));
  EXPECT_FALSE(probe.Get("/svc/api/host-1"));

  // Every "applied" came after the "spooled" of its sequence number.
  std::set<uint64_t> spooled_seqs;
  for (const json& e : agent->events()) {
    if (e.value("event", "") == "spooled") spooled_seqs.insert(e["seq"].get<uint64_t>());
    if (e.value("event", "") == "applied") {
      EXPECT_TRUE(spooled_seqs.contains(e["seq"].get<uint64_t>())) << e;
    }
  }
}

TEST_F(AgentTest, BadLinesGetAnErrorEventAndTheAgentKeepsServing) {
  auto agent = StartConnected();
  struct Case {
    std::string line;
    json id;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {"this is not json", nullptr, "not valid JSON"},
      {"[1,2]", nullptr, "JSON object"},
      {R"({"op":"fly","id":7})", 7, "op \"fly\""},
      {R"({"op":"register","id":8})", 8, "\"path\" is missing"},
      {R"({"op":"register","path":42,"id":9})", 9, "\"path\" must be a string"},
      {R"({"op":"register","path":"/x","mode":"weird","id":10})", 10, "mode \"weird\""},
      {R"({"op":"register","path":"no-slash","id":11})", 11, "path"},
      {R"({"op":"register","path":"/x","ttl_ms":-5,"id":12})", 12, "ttl_ms"},
      {R"({"op":"deregister","path":"/x/","id":13})", 13, "path"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(agent->Send(c.line));
    auto error = agent->WaitForEvent("error", 10s);
    ASSERT_TRUE(error) << c.line;
    EXPECT_EQ(error->value("id", json()), c.id) << c.line;
    EXPECT_NE((*error)["message"].get<std::string>().find(c.message_part), std::string::npos)
        << c.line << " -> " << *error;
    EXPECT_EQ((*error)["code"], "invalid argument") << c.line;
  }
  ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/still/serving","data":"yes","id":"ok"})"));
  auto spooled = agent->WaitForEvent("spooled", 10s);
  ASSERT_TRUE(spooled) << agent->StderrTail();
  EXPECT_EQ((*spooled)["id"], "ok");
  ASSERT_TRUE(WaitApplied(*agent, (*spooled)["seq"]));
  EXPECT_TRUE(agent->Running());
}

TEST_F(AgentTest, RegistrationsFileAppliedOnStartAndReloadedOnSighup) {
  const std::string file = dir_.Sub("registrations.json");
  WriteFile(file, R"({"registrations": [
    {"path": "/hosts/h1/web", "data": "8080"},
    {"path": "/hosts/h1/db", "data": "5432", "mode": "persistent"},
    {"path": "/hosts/h1/cache", "data": "6379"}
  ]})");
  auto agent = StartConnected({"--registrations", file});
  ASSERT_TRUE(agent->events().size() > 0);
  ZkProbe probe(zk_->ConnectString());
  auto all_match = [&](std::map<std::string, std::string> want) {
    for (const auto& [path, data] : want) {
      auto node = probe.Get(path);
      if (!node || node->data != data) return false;
    }
    auto children = probe.Children("/hosts/h1");
    return children.size() == want.size();
  };
  EXPECT_TRUE(Eventually([&] { return all_match({{"/hosts/h1/web", "8080"}, {"/hosts/h1/db", "5432"},
                                                 {"/hosts/h1/cache", "6379"}}); },
                         30s));

  // Drop cache, change web, add queue.
  WriteFile(file, R"({"registrations": [
    {"path": "/hosts/h1/web", "data": "8081"},
    {"path": "/hosts/h1/db", "data": "5432", "mode": "persistent"},
    {"path": "/hosts/h1/queue", "data": "5672"}
  ]})");
  agent->Signal(SIGHUP);
  auto synced = agent->WaitFor([](const json& e) { return e.value("event", "") == "synced" && e["registers"] == 2; },
                               10s);
  ASSERT_TRUE(synced) << agent->StderrTail();
  EXPECT_EQ((*synced)["deregisters"], 1);
  EXPECT_TRUE(Eventually([&] { return all_match({{"/hosts/h1/web", "8081"}, {"/hosts/h1/db", "5432"},
                                                 {"/hosts/h1/queue", "5672"}}); },
                         30s));

  // A bad entry: the reload is refused, naming the entry, and nothing changes.
  WriteFile(file, R"({"registrations": [
    {"path": "/hosts/h1/web", "data": "9999"},
    {"path": "/hosts/h1/db", "data": "5432", "mode": "sometimes"}
  ]})");
  agent->Signal(SIGHUP);
  auto error = agent->WaitForEvent("error", 10s);
  ASSERT_TRUE(error) << agent->StderrTail();
  const std::string message = (*error)["message"];
  EXPECT_NE(message.find("entry 1 (/hosts/h1/db)"), std::string::npos) << message;
  EXPECT_NE(message.find("mode \"sometimes\""), std::string::npos) << message;
  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":"s"})"));
  auto stats = agent->WaitForEvent("stats", 10s);
  ASSERT_TRUE(stats);
  EXPECT_EQ((*stats)["pending"], 0) << "a refused file must spool nothing";
  EXPECT_TRUE(all_match({{"/hosts/h1/web", "8081"}, {"/hosts/h1/db", "5432"}, {"/hosts/h1/queue", "5672"}}));
}

TEST_F(AgentTest, BadRegistrationsFileAtStartExitsWithUsageErrorAndSpoolsNothing) {
  const std::string file = dir_.Sub("registrations.json");
  WriteFile(file, R"({"registrations": [{"path": "/ok", "data": "x"}, {"path": "/ok", "data": "y"}]})");
  auto agent = StartAgent({"--registrations", file});
  EXPECT_EQ(agent->WaitExit(30s), 2);
  EXPECT_NE(agent->StderrTail().find("entry 1 (/ok): the path is listed twice"), std::string::npos)
      << agent->StderrTail();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("spool"))) << "a bad file must not even create the spool";

  WriteFile(file, "{not json");
  auto again = StartAgent({"--registrations", file});
  EXPECT_EQ(again->WaitExit(30s), 2);
  EXPECT_NE(again->StderrTail().find("is not valid JSON"), std::string::npos) << again->StderrTail();
}

// SIGTERM keeps the session for a restart (agent_restart_test shows the restart on an ensemble);
// the node stays with it after the exit.
TEST_F(AgentTest, SigtermKeepsTheSessionAndExitsZero) {
  auto agent = StartConnected();
  ZkProbe probe(zk_->ConnectString());
  ASSERT_NE(SpoolAndApply(*agent, R"({"op":"register","path":"/svc/stay","data":"x"})"), 0u);
  const int64_t owner = probe.Get("/svc/stay")->ephemeral_owner;
  agent->Signal(SIGTERM);
  auto closed = agent->WaitForEvent("closed", 30s);
  ASSERT_TRUE(closed) << agent->StderrTail();
  EXPECT_EQ((*closed)["session"], "kept");
  EXPECT_EQ(agent->WaitExit(30s), 0) << agent->StderrTail();
  auto node = probe.Get("/svc/stay");
  ASSERT_TRUE(node) << "the kept session's ephemeral node went at exit";
  EXPECT_EQ(node->ephemeral_owner, owner);
}

// A leave request ends the session: the ephemeral is gone at once, and the next start begins a
// new session without first finding the old one expired.
TEST_F(AgentTest, LeaveRequestEndsTheSessionAndTheNextStartSeesNoExpiry) {
  auto agent = StartConnected();
  ZkProbe probe(zk_->ConnectString());
  ASSERT_NE(SpoolAndApply(*agent, R"({"op":"register","path":"/svc/bye","data":"x"})"), 0u);
  ASSERT_TRUE(agent->Send(R"({"op":"leave","id":"l"})"));
  auto leaving = agent->WaitForEvent("leaving", 10s);
  ASSERT_TRUE(leaving) << agent->StderrTail();
  EXPECT_EQ((*leaving)["id"], "l");
  auto closed = agent->WaitForEvent("closed", 30s);
  ASSERT_TRUE(closed) << agent->StderrTail();
  EXPECT_EQ((*closed)["session"], "ended");
  EXPECT_EQ(agent->WaitExit(30s), 0) << agent->StderrTail();
  EXPECT_FALSE(probe.Get("/svc/bye")) << "the session was not ended";

  auto again = StartAgent({"--log-level", "info"});
  ASSERT_TRUE(again->WaitFor(
      [](const json& e) { return e.value("event", "") == "session" && e.value("state", "") == "connected"; }, 30s))
      << again->StderrTail();
  ASSERT_TRUE(Eventually([&] { return probe.Get("/svc/bye").has_value(); }, 20s)) << "not re-registered";
  for (const json& e : again->events()) EXPECT_NE(e.value("state", ""), "expired") << e;
  EXPECT_EQ(again->StderrTail(100'000).find("expired"), std::string::npos) << again->StderrTail();
  EXPECT_EQ(again->StderrTail(100'000).find("resuming"), std::string::npos) << again->StderrTail();
}

// Under systemd (Type=notify): READY after the ready event, WATCHDOG keep-alives at half the
// unit's WatchdogSec, STOPPING when it stops. The test plays systemd's notify socket.
TEST_F(AgentTest, TellsSystemdReadyWatchdogAndStopping) {
  const std::string path = dir_.Sub("notify.sock");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
  timeval timeout{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "1000000", 1);  // 1 s: a keep-alive every 500 ms
  auto agent = StartAgent();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  // Collects datagrams until one contains `what` or 30 s pass.
  std::vector<std::string> seen;
  auto until = [&](const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      char buffer[4096];
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) continue;
      seen.emplace_back(buffer, static_cast<size_t>(n));
      if (seen.back().find(what) != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(until("READY=1")) << agent->StderrTail();
  EXPECT_TRUE(EventNamed(*agent, "ready", 10s));
  EXPECT_NE(seen.back().find("STATUS=session "), std::string::npos) << seen.back();
  EXPECT_TRUE(until("WATCHDOG=1"));
  EXPECT_TRUE(until("WATCHDOG=1")) << "only one keep-alive";
  agent->Signal(SIGTERM);
  EXPECT_TRUE(until("STOPPING=1"));
  EXPECT_EQ(agent->WaitExit(30s), 0) << agent->StderrTail();
  ::close(fd);
}

TEST_F(AgentTest, KillNineAndRestartKeepEverySpooledIntent) {
  auto agent = StartConnected();
  // The server is frozen so that some intents are spooled but not applied when the kill comes.
  zk_->Freeze(0);
  constexpr int kCount = 300;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(agent->SendJson(json{{"op", "register"}, {"path", "/fleet/n" + std::to_string(i)},
                                 {"data", "d" + std::to_string(i)}, {"mode", "persistent"}, {"id", i}}));
  }
  std::map<std::string, std::string> acknowledged;
  while (acknowledged.size() < kCount / 2) {
    auto e = agent->WaitForEvent("spooled", 10s);
    ASSERT_TRUE(e) << agent->StderrTail();
    acknowledged[(*e)["path"]] = "d" + std::to_string((*e)["id"].get<int>());
  }
  agent->Kill();
  for (const json& e : agent->events()) {
    if (e.value("event", "") == "spooled") acknowledged[e["path"]] = "d" + std::to_string(e["id"].get<int>());
  }
  zk_->Thaw(0);
  auto restarted = StartConnected();
  ZkProbe probe(zk_->ConnectString());
  EXPECT_TRUE(Eventually(
      [&] {
        for (const auto& [path, data] : acknowledged) {
          auto node = probe.Get(path);
          if (!node || node->data != data) return false;
        }
        return true;
      },
      60s))
      << acknowledged.size() << " acknowledged registrations expected in ZooKeeper";
}

TEST_F(AgentTest, MetricsTextfileIsRewrittenWithTheRegistrarStats) {
  const std::string metrics = dir_.Sub("zkspool.prom");
  auto agent = StartConnected({"--metrics-textfile", metrics, "--metrics-interval", "100"});
  ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/m/one","data":"1"})"));
  auto spooled = agent->WaitForEvent("spooled", 10s);
  ASSERT_TRUE(spooled);
  ASSERT_TRUE(WaitApplied(*agent, (*spooled)["seq"]));
  auto read = [&] {
    std::ifstream in(metrics);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  EXPECT_TRUE(Eventually([&] { return read().find("zkspool_applied_total 1\n") != std::string::npos; }, 10s))
      << read();
  std::string text = read();
  EXPECT_NE(text.find("zkspool_session_state{state=\"connected\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("zkspool_registered_nodes 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_count 1\n"), std::string::npos) << text;
}

TEST_F(AgentTest, SecondAgentOnTheSameSpoolExitsWithSpoolInUse) {
  auto agent = StartConnected();
  auto second = StartAgent();
  EXPECT_EQ(second->WaitExit(30s), 4);
  EXPECT_NE(second->StderrTail().find("spool in use"), std::string::npos) << second->StderrTail();
  EXPECT_TRUE(agent->Running());
}

}  // namespace
}  // namespace zkspool
