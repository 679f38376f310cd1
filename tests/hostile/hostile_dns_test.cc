// A ZooKeeper host name that does not resolve yet (DNS not up at boot) is retried, not fatal
// (issue 14, defect 10): the agent starts, spools, and applies once the name resolves. The name
// is made to resolve by bind-mounting a hosts file of the test's own over /etc/hosts in a mount
// namespace private to the test process (and the agent, its child).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "harness/agent_process.h"
#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zk_probe.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string AgentBinary() {
  const char* other = std::getenv("ZKSPOOL_AGENT");
  return other != nullptr && *other != '\0' ? other : ZKSPOOL_AGENT_BINARY;
}

TEST(HostileDnsTest, Defect10_AHostNameThatDoesNotResolveYetIsRetried) {
  testing::TempDir dir;
  const std::string hosts = dir.Sub("hosts");
  std::filesystem::copy_file("/etc/hosts", hosts);
  // Before any thread exists: unshare(CLONE_NEWNS) requires a single-threaded process.
  if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount(hosts.c_str(), "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) {
    GTEST_SKIP() << "no private mount namespace here: " << std::strerror(errno);
  }
  auto zk = testing::ZkEnsemble::Start();
  const std::string name = "zk-later.zkspool.test";
  const std::string direct = zk->ConnectString(0);  // "127.0.0.1:port"
  const std::string connect = name + direct.substr(direct.find(':'));
  testing::AgentProcess agent(AgentBinary(), {"--spool", dir.Sub("spool"), "--zk", connect, "--session-timeout",
                                              "4000", "--log-level", "info"});
  ASSERT_TRUE(agent.WaitForEvent("ready", 30s)) << agent.StderrTail();
  ASSERT_TRUE(agent.Send(R"({"op":"register","path":"/hostile/dns","data":"later","id":1})"));
  auto spooled = agent.WaitForEvent("spooled", 10s);
  ASSERT_TRUE(spooled) << agent.StderrTail();
  EXPECT_TRUE(agent.Running());

  std::ofstream(hosts, std::ios::app) << "127.0.0.1 " << name << "\n";  // DNS is up
  const uint64_t seq = (*spooled)["seq"];
  auto applied = agent.WaitFor(
      [seq](const json& e) { return e.value("event", "") == "applied" && e.value("seq", uint64_t{0}) == seq; }, 60s);
  ASSERT_TRUE(applied) << agent.StderrTail();
  testing::ZkProbe probe(zk->ConnectString());
  auto node = probe.Get("/hostile/dns");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->data, "later");
}

}  // namespace
}  // namespace zkspool
