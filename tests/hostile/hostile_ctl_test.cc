// Hostile input for zkspoolctl, the binary (issue 14): damaged spools exit 3 and are salvaged,
// foreign directories exit 5, and every unclear message of the issue names the real cause.
// $ZKSPOOLCTL runs the tests against another build.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "damage.h"
#include "run_tool.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

namespace fs = std::filesystem;
using testing::RunTool;
using testing::ToolRun;

class HostileCtlTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  const std::string spool_ = dir_.Sub("spool");
};

TEST_F(HostileCtlTest, Defect1_VerifyExits3ForAZeroedLogHeadAndNamesTheLog) {
  testing::MakeSpool(spool_, 200);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  testing::ZeroBytes(log, 0, 1024);
  ToolRun verify = RunTool({"verify", spool_});
  EXPECT_EQ(verify.exit, 3) << verify.out << verify.err;
  EXPECT_NE(verify.err.find(testing::Basename(log)), std::string::npos) << verify.err;
  ToolRun stats = RunTool({"stats", spool_});
  EXPECT_EQ(stats.exit, 3) << "a damaged spool must not read as an empty one: " << stats.out;
}

TEST_F(HostileCtlTest, Defect2_VerifyExits3ForAManifestThatLostItsLastRecords) {
  testing::MakeSpoolWithAGrownManifest(spool_);
  ASSERT_EQ(RunTool({"verify", spool_}).exit, 0);
  const std::string manifest = testing::CurrentManifest(spool_);
  // Two thirds: its first snapshot survives, the edits after it (the tables that hold the
  // failed set and the session) are lost.
  testing::Truncate(manifest, testing::FileSize(manifest) * 2 / 3);
  ToolRun verify = RunTool({"verify", spool_});
  EXPECT_EQ(verify.exit, 3) << verify.out << verify.err;
  EXPECT_NE(verify.err.find("MANIFEST"), std::string::npos) << verify.err;
}

TEST_F(HostileCtlTest, ADamagedTableOfTheMetaFamilyFailsVerifyInsteadOfReadingAsEmpty) {
  testing::MakeSpool(spool_, 200);
  { auto reopened = Spool::Open(spool_); ASSERT_TRUE(reopened.ok()); }  // flushes the log into tables
  std::string smallest;  // the meta family's table: a format version and a sequence floor
  for (const auto& entry : fs::directory_iterator(spool_)) {
    if (entry.path().extension() == ".sst" && (smallest.empty() || entry.file_size() < fs::file_size(smallest))) {
      smallest = entry.path().string();
    }
  }
  ASSERT_FALSE(smallest.empty());
  testing::OverwriteBytes(smallest, testing::FileSize(smallest) / 3, "\xff\xff\xff\xff");
  ToolRun verify = RunTool({"verify", spool_});
  EXPECT_EQ(verify.exit, 3) << verify.out << verify.err;
  EXPECT_NE((verify.out + verify.err).find(testing::Basename(smallest)), std::string::npos) << verify.out << verify.err;
}

TEST_F(HostileCtlTest, Defect3_AnotherProgramsRocksDbIsNotASpoolExit5) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, spool_, &db).ok());
  delete db;
  for (const char* command : {"stats", "verify"}) {
    ToolRun run = RunTool({command, spool_});
    EXPECT_EQ(run.exit, 5) << command << ": " << run.err;
    EXPECT_NE(run.err.find("is not a spool"), std::string::npos) << run.err;
  }
}

TEST_F(HostileCtlTest, Defect10_LostCurrentIsReportedAsDamage) {
  testing::MakeSpool(spool_, 10);
  fs::remove(spool_ + "/CURRENT");
  ToolRun run = RunTool({"stats", spool_});
  EXPECT_EQ(run.exit, 3) << run.err;
  EXPECT_NE(run.err.find("lost its RocksDB CURRENT file"), std::string::npos) << run.err;
}

// zkspoolctl run as user nobody; its exit status, stderr in `err`.
int RunAsNobody(const std::vector<std::string>& args, std::string& err) {
  const char* tool = std::getenv("ZKSPOOLCTL") && *std::getenv("ZKSPOOLCTL") ? std::getenv("ZKSPOOLCTL") : ZKSPOOLCTL;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -1;
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(126);
    std::vector<char*> argv{const_cast<char*>(tool)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(tool, argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) err.append(buffer, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(HostileCtlTest, Defect10_PermissionDeniedIsNamedAsSuch) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the tool as another user";
  testing::MakeSpool(spool_, 1);
  // The spool's parent may be entered by anyone; the spool itself (0700) only by its owner.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
  std::string err;
  const int exit = RunAsNobody({"stats", spool_}, err);
  EXPECT_EQ(exit, 5) << err;
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
  EXPECT_EQ(err.find("not a spool"), std::string::npos) << err;
}

TEST_F(HostileCtlTest, Defect10_PurgeOfSequenceMinusOneIsAUsageError) {
  testing::MakeSpool(spool_, 1);
  ToolRun run = RunTool({"purge", spool_, "--seq", "-1"});
  EXPECT_EQ(run.exit, 2) << run.err;
  EXPECT_NE(run.err.find("\"-1\" is not a whole number"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("18446744073709551615"), std::string::npos) << run.err;
}

TEST_F(HostileCtlTest, Defect10_LimitMinusOneSaysWhatIsWrongInAFewWords) {
  testing::MakeSpool(spool_, 1);
  ToolRun run = RunTool({"pending", spool_, "--limit", "-1"});
  EXPECT_EQ(run.exit, 2) << run.err;
  EXPECT_NE(run.err.find("is not a whole number"), std::string::npos) << run.err;
  EXPECT_LT(run.err.size(), 200u) << run.err;
}

// CLI11 converts integers with strtoull in base 0: "010" was intent 8, and purge removed it.
TEST_F(HostileCtlTest, NumbersWithALeadingZeroAreRefusedNotReadAsOctal) {
  testing::MakeSpool(spool_, 10);
  ToolRun purge = RunTool({"purge", spool_, "--seq", "010"});
  EXPECT_EQ(purge.exit, 2) << purge.err;
  EXPECT_NE(purge.err.find("\"010\" has a leading zero"), std::string::npos) << purge.err;
  ToolRun pending = RunTool({"pending", spool_, "--json"});
  ASSERT_EQ(pending.exit, 0) << pending.err;
  EXPECT_EQ(pending.JsonLines().size(), 10u) << pending.out;
  for (std::vector<std::string> args : {std::vector<std::string>{"pending", spool_, "--limit", "010"},
                                        {"agent", "--timeout-ms", "010", "health"},
                                        {"agent", "register", "/a", "--ttl-ms", "0x10"},
                                        {"diff", spool_, "--zk", "127.0.0.1:1", "--timeout-ms", "07"}}) {
    ToolRun run = RunTool(args);
    EXPECT_EQ(run.exit, 2) << args[0] << " " << args[2] << ": " << run.err;
  }
}

// CLI11 clamps a value past what the option's type holds: --ttl-ms 9223372036854775808 was sent
// to the agent as INT64_MAX, an intent that never expires.
TEST_F(HostileCtlTest, ANumberPastWhatItsOptionHoldsIsRefusedNotClamped) {
  for (const char* option : {"--ttl-ms", "--node-ttl-ms"}) {
    ToolRun run = RunTool({"agent", "--http", "127.0.0.1:1", "register", "/a", option, "9223372036854775808"});
    EXPECT_EQ(run.exit, 2) << option << ": " << run.err;
    EXPECT_NE(run.err.find("\"9223372036854775808\" is not a whole number from 0 to 9223372036854775807"),
              std::string::npos)
        << run.err;
  }
}

TEST_F(HostileCtlTest, Defect10_AnUnknownCommandIsNamed) {
  ToolRun run = RunTool({"frobnicate", spool_});
  EXPECT_EQ(run.exit, 2) << run.err;
  EXPECT_NE(run.err.find("unknown command \"frobnicate\""), std::string::npos) << run.err;
}

TEST_F(HostileCtlTest, Defect10_ABadConnectStringIsNamed) {
  testing::MakeSpool(spool_, 1);
  ToolRun run = RunTool({"diff", spool_, "--zk", ","});
  EXPECT_EQ(run.exit, 2) << run.err;
  EXPECT_NE(run.err.find("server 1 is empty"), std::string::npos) << run.err;
}

std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

// Salvage reads what Open refuses, but not a FIFO (it hung) or a link to /dev/zero (it ran out of
// memory) in place of HIGHWATER: exit 3 naming it, at once, and no new spool.
TEST_F(HostileCtlTest, SalvageRefusesSpecialFilesInTheDamagedSpool) {
  testing::MakeSpool(spool_, 20);
  const std::string highwater = spool_ + "/HIGHWATER";
  const std::string target = dir_.Sub("salvaged");
  fs::remove(highwater);
  ASSERT_EQ(::mkfifo(highwater.c_str(), 0600), 0);
  ToolRun fifo = RunTool({"salvage", spool_, target, "--write"});
  EXPECT_EQ(fifo.exit, 3) << fifo.out << fifo.err;
  EXPECT_NE(fifo.err.find("HIGHWATER, which is a FIFO"), std::string::npos) << fifo.err;
  fs::remove(highwater);
  fs::create_symlink("/dev/zero", highwater);
  ToolRun zero = RunTool({"salvage", spool_, target, "--write"});
  EXPECT_EQ(zero.exit, 3) << zero.out << zero.err;
  EXPECT_NE(zero.err.find("HIGHWATER, which is a symbolic link"), std::string::npos) << zero.err;
  EXPECT_FALSE(fs::exists(target));
}

// A spool directory's name may hold any bytes; the JSON output of every command must still be
// written (nlohmann's dump() threw on them: exit 5, nothing printed).
TEST_F(HostileCtlTest, JsonOutputForASpoolWhoseNameIsNotUtf8) {
  const std::string spool = dir_.Sub("w\xe9");
  testing::MakeSpool(spool, 5);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"stats", spool, "--json"}, {"verify", spool, "--json"}, {"dump", spool},
        {"pending", spool, "--json"}}) {
    ToolRun run = RunTool(args);
    EXPECT_EQ(run.exit, 0) << args[0] << ": " << run.err;
    EXPECT_FALSE(run.JsonLines().empty()) << args[0] << ": " << run.out;
  }
}

TEST_F(HostileCtlTest, SalvageIsTheAnswerToExit3) {
  testing::MakeSpool(spool_, 200);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  testing::ZeroBytes(log, 0, 1024);
  ASSERT_EQ(RunTool({"verify", spool_}).exit, 3);
  const auto before = Snapshot(spool_);
  const std::string target = dir_.Sub("salvaged");

  ToolRun dry = RunTool({"salvage", spool_, target});
  ASSERT_EQ(dry.exit, 0) << dry.err;
  EXPECT_NE(dry.out.find("dry run"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find(testing::Basename(log) + ": zeroed bytes at byte 0"), std::string::npos) << dry.out;
  EXPECT_FALSE(fs::exists(target));

  ToolRun done = RunTool({"salvage", spool_, target, "--write", "--json"});
  ASSERT_EQ(done.exit, 0) << done.err;
  auto report = done.JsonLines().at(0);
  EXPECT_TRUE(report["written"].get<bool>());
  const uint64_t kept = report["pending_kept"];
  EXPECT_GT(kept, 150u) << "the records after the zeroed KiB still read";
  EXPECT_LT(kept, 200u) << "the zeroed KiB held some";
  EXPECT_EQ(report["next_sequence"], 201) << "numbers continue above every one the damaged spool used";
  EXPECT_EQ(Snapshot(spool_), before) << "salvage must not change the damaged spool";

  ToolRun verify = RunTool({"verify", target});
  EXPECT_EQ(verify.exit, 0) << verify.out << verify.err;
  ToolRun stats = RunTool({"stats", target, "--json"});
  ASSERT_EQ(stats.exit, 0) << stats.err;
  EXPECT_EQ(stats.JsonLines().at(0)["pending_count"], kept);
  EXPECT_EQ(stats.JsonLines().at(0)["next_sequence"], 201);
}

}  // namespace
}  // namespace zkspool
