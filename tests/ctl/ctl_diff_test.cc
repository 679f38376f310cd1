// zkspoolctl diff against a real ZooKeeper server started by tests/harness.
#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include <map>

#include "harness/zk_ensemble.h"
#include "run_tool.h"
#include "support/temp_dir.h"
#include "zk_probe.h"
#include "zkspool/registrar.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::RunTool;
using testing::ToolRun;
using testing::ZkEnsemble;
using testing::ZkProbe;

Intent Put(std::string path, std::string data, NodeMode mode = NodeMode::kEphemeral) {
  Intent i;
  i.path = std::move(path);
  i.data = std::move(data);
  i.mode = mode;
  return i;
}

class CtlDiffTest : public ::testing::Test {
 protected:
  void SetUp() override { zk_ = ZkEnsemble::Start(); }

  std::unique_ptr<Spool> OpenSpool() {
    SpoolOptions o;
    o.logger = std::make_shared<spdlog::logger>("quiet");
    auto spool = Spool::Open(dir_.Sub("spool"), o);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }

  // kind -> paths, from diff --json (the summary line is checked and dropped).
  std::map<std::string, std::vector<std::string>> Diff(int expected_exit) {
    ToolRun run = RunTool({"diff", dir_.Sub("spool"), "--zk", zk_->ConnectString(), "--json"});
    EXPECT_EQ(run.exit, expected_exit) << run.out << run.err;
    std::map<std::string, std::vector<std::string>> kinds;
    auto lines = run.JsonLines();
    EXPECT_FALSE(lines.empty());
    if (lines.empty()) return kinds;
    const json summary = lines.back();
    lines.pop_back();
    EXPECT_EQ(summary["kind"], "summary");
    EXPECT_EQ(summary["differences"], lines.size());
    EXPECT_EQ(summary["in_sync"], lines.empty());
    for (const json& j : lines) {
      kinds[j["kind"]].push_back(j["path"]);
      EXPECT_TRUE(j["detail"].is_string());
      EXPECT_EQ(j["pending"], j["path"] == "/svc/e" || j["path"] == "/svc/gone") << j.dump();
    }
    return kinds;
  }

  testing::TempDir dir_;
  std::unique_ptr<ZkEnsemble> zk_;
};

TEST_F(CtlDiffTest, ReportsEachKindOfDifferenceThenInSync) {
  ZkProbe ours(zk_->ConnectString());
  ZkProbe stranger(zk_->ConnectString());
  {
    // The spool believes /svc/{a,b,c,d} are registered under the probe's session; /svc/e waits.
    auto spool = OpenSpool();
    std::vector<uint64_t> applied;
    applied.push_back(*spool->Append(Put("/svc/a", "A")));
    applied.push_back(*spool->Append(Put("/svc/b", "B", NodeMode::kPersistent)));
    applied.push_back(*spool->Append(Put("/svc/c", "C")));
    applied.push_back(*spool->Append(Put("/svc/d", "D")));
    applied.push_back(*spool->Append(Put("/svc/m", "M")));
    ASSERT_TRUE(spool->MarkApplied(applied).ok());
    ASSERT_TRUE(spool->Append(Put("/svc/e", "E")).ok());
    Intent gone;
    gone.op = Op::kDelete;
    gone.path = "/svc/gone";
    ASSERT_TRUE(spool->Append(gone).ok());
    ASSERT_TRUE(spool->SaveSession({ours.session_id(), std::string(16, 'x')}).ok());
  }
  ASSERT_EQ(ours.Create("/svc", ""), ZOK);
  ASSERT_EQ(ours.Create("/svc/a", "A", ZOO_EPHEMERAL), ZOK);       // in sync
  ASSERT_EQ(ours.Create("/svc/b", "B2"), ZOK);                     // other data
  ASSERT_EQ(stranger.Create("/svc/d", "D", ZOO_EPHEMERAL), ZOK);   // another session's
  ASSERT_EQ(ours.Create("/svc/m", "M"), ZOK);                      // persistent, not ephemeral
  ASSERT_EQ(stranger.Create("/svc/x", "X", ZOO_EPHEMERAL), ZOK);   // unknown to the spool
  ASSERT_EQ(ours.Create("/svc/gone", "G", ZOO_EPHEMERAL), ZOK);    // a pending delete not applied
  // /svc/c and /svc/e are missing.

  auto kinds = Diff(1);
  EXPECT_EQ(kinds["missing"], (std::vector<std::string>{"/svc/c", "/svc/e"}));
  EXPECT_EQ(kinds["data"], (std::vector<std::string>{"/svc/b"}));
  EXPECT_EQ(kinds["owner"], (std::vector<std::string>{"/svc/d"}));
  EXPECT_EQ(kinds["mode"], (std::vector<std::string>{"/svc/m"}));
  EXPECT_EQ(kinds["extra"], (std::vector<std::string>{"/svc/x"}));
  EXPECT_EQ(kinds["present"], (std::vector<std::string>{"/svc/gone"}));
  EXPECT_EQ(kinds.size(), 6u);

  ToolRun human = RunTool({"diff", dir_.Sub("spool"), "--zk", zk_->ConnectString()});
  EXPECT_EQ(human.exit, 1);
  EXPECT_NE(human.out.find("owner    /svc/d     no       ephemeral of session 0x"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("7 differences; 7 paths checked, 1 parents listed"), std::string::npos) << human.out;

  // Make ZooKeeper what the spool wants: diff is then quiet and exits 0.
  ASSERT_EQ(zoo_set(ours.handle(), "/svc/b", "B", 1, -1), ZOK);
  ASSERT_EQ(ours.Create("/svc/c", "C", ZOO_EPHEMERAL), ZOK);
  ASSERT_EQ(stranger.Delete("/svc/d"), ZOK);
  ASSERT_EQ(ours.Create("/svc/d", "D", ZOO_EPHEMERAL), ZOK);
  ASSERT_EQ(ours.Delete("/svc/m"), ZOK);
  ASSERT_EQ(ours.Create("/svc/m", "M", ZOO_EPHEMERAL), ZOK);
  ASSERT_EQ(ours.Create("/svc/e", "E", ZOO_EPHEMERAL), ZOK);
  ASSERT_EQ(stranger.Delete("/svc/x"), ZOK);
  ASSERT_EQ(ours.Delete("/svc/gone"), ZOK);
  EXPECT_TRUE(Diff(0).empty());
  ToolRun in_sync = RunTool({"diff", dir_.Sub("spool"), "--zk", zk_->ConnectString()});
  EXPECT_EQ(in_sync.exit, 0);
  EXPECT_EQ(in_sync.out, "in sync: 7 paths checked, 1 parents listed\n");
}

TEST_F(CtlDiffTest, ALiveRegistrarIsInSync) {
  RegistrarOptions o;
  o.spool_dir = dir_.Sub("spool");
  o.hosts = zk_->ConnectString();
  o.session_timeout = 4000ms;
  auto registrar = Registrar::Open(o);
  ASSERT_TRUE(registrar.ok()) << registrar.status().ToString();
  for (const char* path : {"/svc/web/a", "/svc/web/b", "/svc/db"}) {
    auto ticket = (*registrar)->Register(path, std::string("data of ") + path);
    ASSERT_TRUE(ticket.ok());
    auto outcome = (*registrar)->WaitApplied(*ticket, 30s);
    ASSERT_TRUE(outcome.ok() && *outcome == Outcome::kApplied);
  }
  ToolRun run = RunTool({"diff", dir_.Sub("spool"), "--zk", zk_->ConnectString()});
  EXPECT_EQ(run.exit, 0) << run.out << run.err;
  EXPECT_EQ(run.out, "in sync: 3 paths checked, 2 parents listed\n");
}

}  // namespace
}  // namespace zkspool
