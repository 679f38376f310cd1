// Hostile input for zkspool-agent, the binary (issue 14): deep, oversized and duplicated input,
// special and oversized registrations files, signals during start-up and reloads, full disks,
// foreign and damaged spools, bad connect strings. No ZooKeeper server is needed: the agent
// spools while 127.0.0.1:1 refuses it. $ZKSPOOL_AGENT runs the tests against another build.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "damage.h"
#include "harness/agent_process.h"
#include "support/small_tmpfs.h"
#include "support/temp_dir.h"

namespace zkspool {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::AgentProcess;

std::string AgentBinary() {
  const char* other = std::getenv("ZKSPOOL_AGENT");
  return other != nullptr && *other != '\0' ? other : ZKSPOOL_AGENT_BINARY;
}

// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), or -1.
int64_t ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

std::string RegistrationsJson(int count, const std::string& data) {
  std::ostringstream out;
  out << R"({"registrations":[)";
  for (int i = 0; i < count; ++i) {
    out << (i ? "," : "") << R"({"path":"/hostile/reg/n)" << i << R"(","data":")" << data << R"("})";
  }
  out << "]}";
  return out.str();
}

class HostileAgentTest : public ::testing::Test {
 protected:
  std::unique_ptr<AgentProcess> Start(std::vector<std::string> extra = {}, std::string spool = "",
                                      std::string zk = "127.0.0.1:1") {
    std::vector<std::string> args{"--spool", spool.empty() ? spool_ : spool, "--zk", zk, "--log-level", "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<AgentProcess>(AgentBinary(), args);
  }
  std::unique_ptr<AgentProcess> StartReady(std::vector<std::string> extra = {}, std::string spool = "") {
    auto agent = Start(std::move(extra), std::move(spool));
    EXPECT_TRUE(agent->WaitForEvent("ready", 30s)) << agent->StderrTail();
    return agent;
  }
  // The agent exits by itself within `within` with `status`, and its log says `says`.
  void ExpectExit(AgentProcess& agent, int status, const std::string& says, std::chrono::milliseconds within = 10s) {
    std::optional<int> exit = agent.WaitExit(within);
    ASSERT_TRUE(exit.has_value()) << "still running after " << within.count() << " ms: " << agent.StderrTail();
    EXPECT_EQ(*exit, status) << agent.StderrTail();
    EXPECT_NE(agent.StderrTail().find(says), std::string::npos) << "should say \"" << says << "\": " << agent.StderrTail();
  }
  void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }
  // Waits for the agent to exit while reading what it writes, as a supervisor's journal would
  // (a reader that stops reading holds an exit up by design: see EventOutput::Abandon).
  static std::optional<int> WaitExitReading(AgentProcess& agent, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (agent.Running() && std::chrono::steady_clock::now() < deadline) agent.NextEvent(20ms);
    return agent.WaitExit(0ms);
  }

  testing::TempDir dir_;
  const std::string spool_ = dir_.Sub("spool");
};

TEST_F(HostileAgentTest, Defect4_IdNested60000DeepIsRefusedAndTheAgentLives) {
  auto agent = StartReady();
  const std::string deep = std::string(60'000, '[') + std::string(60'000, ']');
  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":)" + deep + "}"));
  auto error = agent->WaitForEvent("error", 10s);
  ASSERT_TRUE(error) << agent->StderrTail();
  EXPECT_NE((*error)["message"].get<std::string>().find("deeper than 64"), std::string::npos) << *error;
  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":"after"})"));
  auto stats = agent->WaitForEvent("stats", 10s);
  ASSERT_TRUE(stats) << agent->StderrTail();
  EXPECT_EQ((*stats)["id"], "after");
}

TEST_F(HostileAgentTest, Defect10_ThirtyDigitIdIsEchoedExactly) {
  auto agent = StartReady();
  const std::string id = "123456789012345678901234567890";
  ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/hostile/id","id":)" + id + "}"));
  ASSERT_TRUE(agent->WaitForEvent("spooled", 10s)) << agent->StderrTail();
  EXPECT_NE(agent->lines().back().find("\"id\":" + id), std::string::npos) << agent->lines().back();
}

TEST_F(HostileAgentTest, Defect10_AKeyGivenTwiceIsRefused) {
  auto agent = StartReady();
  ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/hostile/twice","op":"deregister","id":1})"));
  auto reply = agent->WaitFor([](const json& e) { return e.value("event", "") == "error" || e.value("event", "") == "spooled"; }, 10s);
  ASSERT_TRUE(reply) << agent->StderrTail();
  EXPECT_EQ((*reply)["event"], "error") << *reply;
  EXPECT_NE(reply->value("message", "").find("twice"), std::string::npos) << *reply;
}

TEST_F(HostileAgentTest, Defect9_AnOverlongLineIsRefusedAndMemoryStaysBounded) {
  auto agent = StartReady();
  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":"before"})"));
  ASSERT_TRUE(agent->WaitForEvent("stats", 10s));
  const int64_t peak_before = ProcStatusKiB(agent->pid(), "VmHWM");
  ASSERT_GT(peak_before, 0);
  ASSERT_TRUE(agent->Send(std::string(64 << 20, 'x')));  // 64 MiB without a newline, then one
  auto error = agent->WaitForEvent("error", 30s);
  ASSERT_TRUE(error) << agent->StderrTail();
  EXPECT_NE(error->value("message", "").find("longer than 2097152 bytes"), std::string::npos) << *error;
  ASSERT_TRUE(agent->Send(R"({"op":"stats","id":"after"})"));
  auto stats = agent->WaitForEvent("stats", 10s);
  ASSERT_TRUE(stats) << agent->StderrTail();
  const int64_t grown = ProcStatusKiB(agent->pid(), "VmHWM") - peak_before;
  std::printf("peak RSS grew by %lld KiB while 64 MiB without a newline arrived\n", static_cast<long long>(grown));
  EXPECT_LT(grown, 16 * 1024) << "the line was buffered";
}

TEST_F(HostileAgentTest, Defect6_EndlessRegistrationsFileIsRefused) {
  auto agent = Start({"--registrations", "/dev/zero"});
  ExpectExit(*agent, 2, "/dev/zero is a character device, not a regular file");
}

TEST_F(HostileAgentTest, Defect7_FifoAsRegistrationsFileIsRefusedAtOnce) {
  const std::string fifo = dir_.Sub("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto agent = Start({"--registrations", fifo});
  ExpectExit(*agent, 2, "is a FIFO, not a regular file", 5s);
}

TEST_F(HostileAgentTest, Defect10_DirectoryAsRegistrationsFileIsNamedAsSuch) {
  auto agent = Start({"--registrations", dir_.path()});
  ExpectExit(*agent, 2, "is a directory, not a regular file");
}

TEST_F(HostileAgentTest, FifoAsAuthFileIsRefusedAtOnce) {
  const std::string fifo = dir_.Sub("auth-fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto agent = Start({"--auth-file", fifo});
  ExpectExit(*agent, 2, "is a FIFO, not a regular file", 5s);
}

// CLI11 read --config with a plain ifstream to its end: a FIFO hung start-up, /dev/zero ended in
// std::bad_alloc (SIGABRT).
TEST_F(HostileAgentTest, SpecialFilesAsConfigAreRefusedAtOnce) {
  const std::string fifo = dir_.Sub("config-fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto from_fifo = Start({"--config", fifo});
  ExpectExit(*from_fifo, 2, "is a FIFO, not a regular file", 5s);
  auto from_zero = Start({"--config=/dev/zero"});
  ExpectExit(*from_zero, 2, "/dev/zero is a character device, not a regular file");
  auto from_dir = Start({"--config", dir_.path()});
  ExpectExit(*from_dir, 2, "is a directory, not a regular file");
  const std::string big = dir_.Sub("big.toml");
  std::ofstream(big) << std::string(2 << 20, '#');
  auto from_big = Start({"--config", big});
  ExpectExit(*from_big, 2, "big.toml");
}

// Everything RocksDB wrote removed, ZKSPOOL ("created") and HIGHWATER left: exit 3, never a new
// empty spool.
TEST_F(HostileAgentTest, WipedSpoolDatabaseStopsTheAgentWithExit3) {
  testing::MakeSpool(spool_, 20);
  testing::WipeDatabase(spool_);
  auto agent = Start();
  ExpectExit(*agent, 3, "is gone");
  EXPECT_FALSE(std::filesystem::exists(spool_ + "/CURRENT"));
}

TEST_F(HostileAgentTest, OversizedRegistrationsFileIsRefusedNamingTheLimit) {
  const std::string file = dir_.Sub("big.json");
  WriteFile(file, R"({"registrations":[]})" + std::string((32 << 20) + 1, ' '));
  auto agent = Start({"--registrations", file});
  ExpectExit(*agent, 2, "is larger than 33554432 bytes, the limit");
}

TEST_F(HostileAgentTest, TooManyRegistrationsAreRefusedNamingTheLimit) {
  const std::string file = dir_.Sub("many.json");
  WriteFile(file, RegistrationsJson(100'001, ""));
  auto agent = Start({"--registrations", file});
  ExpectExit(*agent, 2, "more than 100000 items, the limit");
}

TEST_F(HostileAgentTest, RegistrationsNestedTooDeepAreRefused) {
  const std::string file = dir_.Sub("deep.json");
  WriteFile(file, R"({"registrations":[{"path":"/a","data":"x","extra":)" + std::string(100, '[') +
                      std::string(100, ']') + "}]}");
  auto agent = Start({"--registrations", file});
  ExpectExit(*agent, 2, "deeper than 64 levels");
}

TEST_F(HostileAgentTest, Defect7_SigtermDuringStartUpStopsWithinTwoSeconds) {
  const std::string file = dir_.Sub("reg.json");
  WriteFile(file, RegistrationsJson(20'000, "start"));
  auto agent = Start({"--registrations", file});
  // The marker appears once the file was read and the spool is being opened: start-up is under way
  // (and the agent's signal thread runs).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(spool_ + "/ZKSPOOL") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(fs::exists(spool_ + "/ZKSPOOL")) << agent->StderrTail();
  agent->Signal(SIGTERM);
  std::optional<int> exit = WaitExitReading(*agent, 2s);
  ASSERT_TRUE(exit.has_value()) << "SIGTERM during start-up not honoured within 2 s: " << agent->StderrTail();
  EXPECT_EQ(*exit, 0) << agent->StderrTail();
}

TEST_F(HostileAgentTest, Defect7_SigtermDuringAReloadStopsWithinTwoSeconds) {
  const std::string file = dir_.Sub("reg.json");
  WriteFile(file, RegistrationsJson(1, "first"));
  auto agent = StartReady({"--registrations", file});
  WriteFile(file, RegistrationsJson(20'000, "second"));
  agent->Signal(SIGHUP);
  std::this_thread::sleep_for(50ms);  // into the reload, or past it: either way it must stop
  agent->Signal(SIGTERM);
  std::optional<int> exit = WaitExitReading(*agent, 2s);
  ASSERT_TRUE(exit.has_value()) << "SIGTERM during a reload not honoured within 2 s: " << agent->StderrTail();
  EXPECT_EQ(*exit, 0) << agent->StderrTail();
}

TEST_F(HostileAgentTest, Defect3_AnotherProgramsRocksDbIsNotASpool) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, spool_, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "theirs", "value").ok());
    delete db;
  }
  auto agent = Start();
  ExpectExit(*agent, 5, "is not a spool");
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), spool_, &families).ok());
  EXPECT_EQ(families, std::vector<std::string>{rocksdb::kDefaultColumnFamilyName}) << "families were added";
}

TEST_F(HostileAgentTest, Defect1_ZeroedLogHeadStopsTheAgentWithExit3) {
  testing::MakeSpool(spool_, 200);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  testing::ZeroBytes(log, 0, 1024);
  auto agent = Start();
  ExpectExit(*agent, 3, testing::Basename(log));
}

TEST_F(HostileAgentTest, Defect10_DanglingSymlinkAsSpoolIsNamed) {
  const std::string link = dir_.Sub("link");
  fs::create_symlink(dir_.Sub("nowhere"), link);
  auto agent = Start({}, link);
  ExpectExit(*agent, 5, "is a symbolic link to " + dir_.Sub("nowhere") + ", which does not exist");
}

TEST_F(HostileAgentTest, Defect10_BadConnectStringsAreNamed) {
  auto empty_server = Start({}, "", ",");
  ExpectExit(*empty_server, 2, "server 1 is empty");
  auto bad_port = Start({}, "", "127.0.0.1:99999");
  ExpectExit(*bad_port, 2, "is not a number from 1 to 65535");
}

class HostileAgentFullDiskTest : public HostileAgentTest {
 protected:
  void SetUp() override {
    std::string why;
    disk_ = testing::SmallTmpfs::Mount(8 << 20, why);
    if (!disk_) GTEST_SKIP() << "no private tmpfs here (" << why << "); full-disk cases run where mounts are allowed";
    spool_on_disk_ = disk_->path() + "/spool";
  }
  std::unique_ptr<testing::SmallTmpfs> disk_;
  std::string spool_on_disk_;
};

TEST_F(HostileAgentFullDiskTest, Defect5_StartOnAFullDiskExits5NamingEnospc) {
  {
    auto agent = StartReady({}, spool_on_disk_);
    ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/hostile/a","data":"x"})"));
    ASSERT_TRUE(agent->WaitForEvent("spooled", 10s));
    agent->Signal(SIGTERM);
    ASSERT_EQ(agent->WaitExit(10s), 0);
  }
  disk_->Fill();
  auto agent = Start({}, spool_on_disk_);
  ExpectExit(*agent, 5, "No space left on device");
}

TEST_F(HostileAgentFullDiskTest, Defect8_AppendsWorkAgainOnceSpaceReturnsWithoutARestart) {
  auto agent = StartReady({}, spool_on_disk_);
  disk_->Fill();
  // The log keeps some room preallocated (about 1.1 x the memtable size): write past it.
  const std::string big(1000 << 10, 'd');
  std::optional<json> refused;
  for (int i = 0; i < 8 && !refused; ++i) {
    ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/hostile/full)" + std::to_string(i) + R"(","data":")" + big +
                            R"(","id":"full"})"));
    auto reply = agent->WaitFor(
        [](const json& e) { return e.value("event", "") == "spooled" || e.value("event", "") == "error"; }, 10s);
    ASSERT_TRUE(reply) << agent->StderrTail();
    if ((*reply)["event"] == "error") refused = reply;
  }
  ASSERT_TRUE(refused) << "every append was taken on a full disk: " << agent->StderrTail();
  EXPECT_NE(refused->value("message", "").find("No space left on device"), std::string::npos) << *refused;
  disk_->Free();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool spooled = false;
  for (int i = 0; !spooled && std::chrono::steady_clock::now() < deadline; ++i) {
    ASSERT_TRUE(agent->Send(R"({"op":"register","path":"/hostile/after","data":"x","id":)" + std::to_string(i) + "}"));
    auto reply = agent->WaitFor([](const json& e) { return e.value("event", "") == "spooled" || e.value("event", "") == "error"; }, 5s);
    spooled = reply && (*reply)["event"] == "spooled";
    if (!spooled) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(spooled) << "appends still refused after space returned: " << agent->StderrTail();
  EXPECT_TRUE(agent->Running());
}

}  // namespace
}  // namespace zkspool
