// zkspoolctl as an operator uses it: every command on a spool made by the library, its JSON
// parsed, every error and exit status, a damaged spool, and a spool live in another process.
#include <gtest/gtest.h>

#include <random>

#include <iterator>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <spdlog/logger.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "run_tool.h"
#include "spool/record_codec.h"
#include "spool/sequence_key.h"
#include "support/raw_spool.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using testing::RawPut;

using nlohmann::json;
using std::chrono::milliseconds;
using testing::RunTool;
using testing::RunToolOnTerminal;
using testing::TempDir;
using testing::ToolRun;

const std::string kPassword = "SECRET-PASSWORD!";  // 16 bytes, easy to find if it ever leaks
constexpr int64_t kSessionId = 0x1000abcdef0042;

Intent Put(std::string path, std::string data, NodeMode mode = NodeMode::kEphemeral) {
  Intent i;
  i.path = std::move(path);
  i.data = std::move(data);
  i.mode = mode;
  return i;
}

Intent Delete(std::string path) {
  Intent i;
  i.op = Op::kDelete;
  i.path = std::move(path);
  return i;
}

std::string Base64Decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(c));
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

size_t CountLines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

class CtlTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool() {
    SpoolOptions o;
    o.logger = std::make_shared<spdlog::logger>("quiet");
    auto spool = Spool::Open(spool_dir_, o);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }

  // Registered: /svc/web/a, /svc/web/b, /svc/db (persistent). Pending: 4 update /svc/web/a,
  // 5 put /svc/web/c (TTL 1 h), 6 delete /svc/web/b, 7 put /other/x. Failed: 3 (/svc/web/z).
  void MakeSampleSpool() {
    auto spool = OpenSpool();
    uint64_t a = *spool->Append(Put("/svc/web/a", "{\"port\":8080}"));
    uint64_t b = *spool->Append(Put("/svc/web/b", std::string("\x00\x01\xff binary", 10)));
    uint64_t z = *spool->Append(Put("/svc/web/z", "denied"));
    ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{a, b}).ok());
    ASSERT_TRUE(spool->MarkFailed(std::vector<uint64_t>{z}, "ZNOAUTH: not authenticated").ok());
    ASSERT_EQ(*spool->Append(Put("/svc/web/a", "{\"port\":8081}")), 4u);
    ASSERT_EQ(*spool->Append(Put("/svc/web/c", std::string(3000, 'c')), milliseconds(3600'000)), 5u);
    ASSERT_EQ(*spool->Append(Delete("/svc/web/b")), 6u);
    ASSERT_EQ(*spool->Append(Put("/other/x", "x")), 7u);
    uint64_t db = *spool->Append(Put("/svc/db", "primary", NodeMode::kPersistent));
    ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{db}).ok());
    ASSERT_TRUE(spool->SaveSession({0x77, std::string(16, 'o')}).ok());
    ASSERT_TRUE(spool->SaveSession({kSessionId, kPassword}).ok());
  }

  TempDir dir_;
  std::string spool_dir_ = dir_.Sub("spool");
};

TEST_F(CtlTest, HelpDocumentsExitCodesAndUsageErrorsExitTwo) {
  ToolRun help = RunTool({"--help"});
  EXPECT_EQ(help.exit, 0);
  EXPECT_NE(help.out.find("0 ok, 1 differences (diff), 2 usage, 3 corruption, 4 spool in use"), std::string::npos);
  for (const char* command : {"stats", "pending", "registered", "dump", "verify", "expire", "purge", "diff"}) {
    ToolRun sub = RunTool({command, "--help"});
    EXPECT_EQ(sub.exit, 0) << command;
    EXPECT_NE(sub.out.find("Exit status"), std::string::npos) << command;
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"stats"},
           {"stats", spool_dir_, "--bogus"},
           {"pending", spool_dir_, "--limit", "-1"},
           {"purge", spool_dir_},
           {"purge", spool_dir_, "--seq", "1", "--all-pending"},
           {"purge", spool_dir_, "--path", "/a", "--all-pending"},
           {"diff", spool_dir_},
       }) {
    ToolRun run = RunTool(args);
    EXPECT_EQ(run.exit, 2) << ::testing::PrintToString(args) << run.err;
    EXPECT_EQ(CountLines(run.err), 1u) << run.err;
    EXPECT_TRUE(run.out.empty());
  }
  EXPECT_FALSE(std::filesystem::exists(spool_dir_));
}

TEST_F(CtlTest, ErrorsAreOneLineNamingTheProblem) {
  const std::vector<std::vector<std::string>> commands = {
      {"stats"}, {"pending"}, {"registered"}, {"dump"}, {"verify"}, {"expire"}, {"purge", "--all-pending"},
      {"diff", "--zk", "127.0.0.1:1"}};
  auto expect_all = [&](const std::string& dir, const std::string& problem) {
    for (std::vector<std::string> args : commands) {
      args.insert(args.begin() + 1, dir);
      ToolRun run = RunTool(args);
      EXPECT_EQ(run.exit, 5) << args[0] << ": " << run.err;
      EXPECT_EQ(CountLines(run.err), 1u) << args[0] << ": " << run.err;
      EXPECT_NE(run.err.find(problem), std::string::npos) << args[0] << ": " << run.err;
    }
  };
  expect_all(dir_.Sub("missing"), "spool directory " + dir_.Sub("missing") + " does not exist");
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("missing")));  // not even expire/purge create it

  std::filesystem::create_directory(dir_.Sub("home"));
  std::ofstream(dir_.Sub("home") + "/notes.txt") << "mine";
  expect_all(dir_.Sub("home"), dir_.Sub("home") + " is not a spool");
  std::ofstream(dir_.Sub("file")) << "x";
  expect_all(dir_.Sub("file"), dir_.Sub("file") + " is not a directory");

  OpenSpool().reset();
  std::string three(8, '\0');
  three[0] = 3;
  RawPut(spool_dir_, kMetaIndex, "format_version", three);
  expect_all(spool_dir_, "has format version 3; this build supports up to 2");
}

TEST_F(CtlTest, StatsShowsCountsAgesAndSessionButNeverThePassword) {
  MakeSampleSpool();
  ToolRun human = RunTool({"stats", spool_dir_});
  ASSERT_EQ(human.exit, 0) << human.err;
  EXPECT_NE(human.out.find("pending         4 intents, 3.2 KiB"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("registered      3 nodes"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("session         0x1000abcdef0042"), std::string::npos) << human.out;
  EXPECT_EQ(human.out.find(kPassword), std::string::npos);

  ToolRun run = RunTool({"stats", spool_dir_, "--json"});
  ASSERT_EQ(run.exit, 0) << run.err;
  auto lines = run.JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  const json& j = lines[0];
  EXPECT_EQ(j["spool"], spool_dir_);
  EXPECT_EQ(j["format_version"], kSpoolFormatVersion);
  EXPECT_EQ(j["pending_count"], 4);
  EXPECT_GT(j["pending_bytes"].get<uint64_t>(), 3000u);
  EXPECT_GE(j["oldest_pending_age_ms"].get<int64_t>(), 0);
  EXPECT_EQ(j["next_sequence"], 9);
  EXPECT_EQ(j["registered_count"], 3);
  EXPECT_EQ(j["expired_count"], 0);
  EXPECT_EQ(j["failed_count"], 1);
  EXPECT_EQ(j["session_id"], "0x1000abcdef0042");
  EXPECT_EQ(j["owned_session_count"], 2);
  EXPECT_GT(j["disk_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(run.out.find(kPassword), std::string::npos);
}

TEST_F(CtlTest, PendingListsIntentsInSequenceOrder) {
  MakeSampleSpool();
  ToolRun run = RunTool({"pending", spool_dir_, "--json"});
  ASSERT_EQ(run.exit, 0) << run.err;
  auto lines = run.JsonLines();
  ASSERT_EQ(lines.size(), 4u);
  std::vector<uint64_t> seqs;
  for (const json& j : lines) seqs.push_back(j["seq"]);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{4, 5, 6, 7}));
  EXPECT_EQ(lines[0]["op"], "put");
  EXPECT_EQ(lines[0]["path"], "/svc/web/a");
  EXPECT_EQ(lines[0]["mode"], "ephemeral");
  EXPECT_EQ(lines[0]["acl"], "open");
  EXPECT_EQ(lines[0]["data_bytes"], 13);
  EXPECT_TRUE(lines[0]["expires_at_ms"].is_null());
  EXPECT_TRUE(lines[0]["expires_in_ms"].is_null());
  EXPECT_GT(lines[1]["expires_in_ms"].get<int64_t>(), 3500'000);
  EXPECT_EQ(lines[2]["op"], "delete");
  EXPECT_FALSE(lines[0].contains("data_base64"));  // data only in dump

  ToolRun under = RunTool({"pending", spool_dir_, "--json", "--path", "/svc/web", "--limit", "2"});
  ASSERT_EQ(under.exit, 0);
  auto limited = under.JsonLines();
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[1]["seq"], 5);
  EXPECT_EQ(RunTool({"pending", spool_dir_, "--json", "--path", "/svc/we"}).out, "");  // a subtree, not a string prefix

  ToolRun human = RunTool({"pending", spool_dir_, "--path", "/svc"});
  ASSERT_EQ(human.exit, 0);
  auto out = human.OutLines();
  ASSERT_EQ(out.size(), 5u) << human.out;
  EXPECT_EQ(out[0].substr(0, 9), "SEQ  OP  ");
  EXPECT_NE(out[2].find("2.9 KiB"), std::string::npos) << out[2];
  EXPECT_NE(out[2].find(" 59m5"), std::string::npos) << out[2];  // 1 h TTL, seconds ago (a loaded machine is slow)
  EXPECT_NE(out[1].find("never"), std::string::npos) << out[1];
  EXPECT_EQ(out[4], "(3 pending intents)");

  ToolRun failed = RunTool({"pending", spool_dir_, "--failed", "--json"});
  ASSERT_EQ(failed.exit, 0);
  auto parked = failed.JsonLines();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0]["seq"], 3);
  EXPECT_EQ(parked[0]["reason"], "ZNOAUTH: not authenticated");
}

TEST_F(CtlTest, RegisteredListsTheDesiredSet) {
  MakeSampleSpool();
  ToolRun run = RunTool({"registered", spool_dir_, "--json"});
  ASSERT_EQ(run.exit, 0) << run.err;
  auto lines = run.JsonLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["path"], "/svc/db");
  EXPECT_EQ(lines[0]["mode"], "persistent");
  EXPECT_EQ(lines[0]["seq"], 8);
  EXPECT_EQ(lines[1]["path"], "/svc/web/a");
  EXPECT_EQ(lines[1]["seq"], 1);  // the update, seq 4, is still pending
  EXPECT_EQ(lines[2]["path"], "/svc/web/b");
  EXPECT_EQ(lines[2]["data_bytes"], 10);
  ToolRun under = RunTool({"registered", spool_dir_, "--path", "/svc/web"});
  ASSERT_EQ(under.exit, 0);
  EXPECT_EQ(under.OutLines().size(), 4u) << under.out;
  EXPECT_NE(under.out.find("/svc/web/b  ephemeral  open"), std::string::npos) << under.out;
  // A trailing '/' names the same subtree, the node itself included (it once started after it).
  for (const char* prefix : {"/svc/db", "/svc/db/"}) {
    ToolRun db = RunTool({"registered", spool_dir_, "--json", "--path", prefix});
    ASSERT_EQ(db.exit, 0) << db.err;
    auto db_lines = db.JsonLines();
    ASSERT_EQ(db_lines.size(), 1u) << prefix << ": " << db.out;
    EXPECT_EQ(db_lines[0]["path"], "/svc/db");
  }
  ToolRun slash = RunTool({"registered", spool_dir_, "--json", "--path", "/svc/"});
  ASSERT_EQ(slash.exit, 0) << slash.err;
  EXPECT_EQ(slash.JsonLines().size(), 3u) << slash.out;
}

TEST_F(CtlTest, DumpHasEveryRecordWithDataAndNeverThePassword) {
  MakeSampleSpool();
  ToolRun run = RunTool({"dump", spool_dir_});
  ASSERT_EQ(run.exit, 0) << run.err;
  auto lines = run.JsonLines();
  ASSERT_EQ(lines.size(), 1u + 4 + 3 + 1);
  EXPECT_EQ(lines[0]["kind"], "meta");
  EXPECT_EQ(lines[0]["session_id"], "0x1000abcdef0042");
  EXPECT_EQ(lines[0]["owned_sessions"], json::array({"0x77", "0x1000abcdef0042"}));
  EXPECT_EQ(lines[0]["next_sequence"], 9);
  std::map<std::string, int> kinds;
  for (const json& j : lines) ++kinds[j["kind"]];
  EXPECT_EQ(kinds["pending"], 4);
  EXPECT_EQ(kinds["registered"], 3);
  EXPECT_EQ(kinds["failed"], 1);
  EXPECT_EQ(Base64Decode(lines[1]["data_base64"]), "{\"port\":8081}");
  EXPECT_EQ(lines[3]["data_base64"], "");  // the delete
  EXPECT_EQ(Base64Decode(lines[7]["data_base64"]), std::string("\x00\x01\xff binary", 10));
  EXPECT_EQ(lines[8]["reason"], "ZNOAUTH: not authenticated");
  EXPECT_EQ(run.out.find(kPassword), std::string::npos);
  EXPECT_EQ(run.out.find("U0VDUkVU"), std::string::npos);  // base64 of "SECRET"
}

TEST_F(CtlTest, VerifyReportsEachDamagedRecordWithItsKey) {
  MakeSampleSpool();
  ToolRun healthy = RunTool({"verify", spool_dir_});
  EXPECT_EQ(healthy.exit, 0) << healthy.err;
  EXPECT_NE(healthy.out.find("records: healthy"), std::string::npos) << healthy.out;
  EXPECT_TRUE(healthy.err.empty());  // no progress: stderr is not a terminal

  // Flip one byte of intent 5's data: its CRC no longer matches. And a value that is no record.
  std::string record = EncodeRecord({5, Put("/svc/web/c", std::string(3000, 'c'))});
  record[record.size() - 7] ^= 0x20;
  RawPut(spool_dir_, kIntentsIndex, SequenceKey(5), record);
  RawPut(spool_dir_, kRegisteredIndex, "/svc/web/b", "not a record");
  ToolRun damaged = RunTool({"verify", spool_dir_});
  EXPECT_EQ(damaged.exit, 3) << damaged.err;
  EXPECT_NE(damaged.out.find("intents     5           intent 5: record checksum mismatch"), std::string::npos)
      << damaged.out;
  EXPECT_NE(damaged.out.find("registered  /svc/web/b"), std::string::npos) << damaged.out;
  EXPECT_NE(damaged.out.find("2 damaged"), std::string::npos) << damaged.out;

  ToolRun as_json = RunTool({"verify", spool_dir_, "--json"});
  EXPECT_EQ(as_json.exit, 3);
  auto lines = as_json.JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["healthy"], false);
  ASSERT_EQ(lines[0]["problems"].size(), 2u);
  EXPECT_EQ(lines[0]["problems"][0]["family"], "intents");
  EXPECT_EQ(lines[0]["problems"][0]["key"], "5");
  EXPECT_EQ(lines[0]["problems"][1]["key"], "/svc/web/b");
  EXPECT_GT(lines[0]["records_checked"].get<int>(), 7);

  // Reading a damaged record is corruption for the other read commands too.
  ToolRun pending = RunTool({"pending", spool_dir_});
  EXPECT_EQ(pending.exit, 3);
  EXPECT_NE(pending.err.find("intent 5: record checksum mismatch"), std::string::npos) << pending.err;
}

// Bit rot in the files themselves (not a well-formed bad record): a flipped byte inside a
// table file's data block fails its block checksum.
TEST_F(CtlTest, VerifyPointsAtAFlippedByteInATableFile) {
  // Random hex per record, so that compression keeps it as it is and it can be found.
  auto payload = [](int i) {
    std::mt19937_64 rng(static_cast<uint64_t>(i) + 7);
    std::string hex;
    for (int k = 0; k < 48; ++k) hex += "0123456789abcdef"[rng() % 16];
    return hex;
  };
  {
    auto spool = OpenSpool();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(spool->Append(Put("/rot/n" + std::to_string(i), payload(i))).ok());
  }
  { auto reopened = OpenSpool(); }  // the log is replayed into a table file
  std::string damaged_file;
  for (const auto& entry : std::filesystem::directory_iterator(spool_dir_)) {
    if (entry.path().extension() != ".sst") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t at = bytes.find(payload(25));
    if (at == std::string::npos) continue;
    std::fstream out(entry.path(), std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(at + 5));
    out.put(static_cast<char>(bytes[at + 5] ^ 0x01));
    damaged_file = entry.path().filename().string();
  }
  ASSERT_FALSE(damaged_file.empty());
  ToolRun verify = RunTool({"verify", spool_dir_});
  EXPECT_EQ(verify.exit, 3) << verify.out << verify.err;
  EXPECT_NE((verify.out + verify.err).find(damaged_file), std::string::npos)
      << "verify should name the damaged file:\n" << verify.out << verify.err;
  auto open = Spool::Open(spool_dir_);
  EXPECT_EQ(open.status().code(), StatusCode::kCorruption) << open.status().ToString();
}

TEST_F(CtlTest, VerifyShowsProgressOnATerminal) {
  {
    SpoolOptions o;
    o.durability = Durability::kBuffered;
    o.logger = std::make_shared<spdlog::logger>("quiet");
    auto spool = std::move(Spool::Open(spool_dir_, o)).value();
    for (int i = 0; i < 20'000; ++i) ASSERT_TRUE(spool->Append(Put("/p/n" + std::to_string(i % 100), "d")).ok());
  }
  ToolRun run = RunToolOnTerminal({"verify", spool_dir_});
  EXPECT_EQ(run.exit, 0) << run.out;
  EXPECT_NE(run.out.find("verifying: "), std::string::npos) << run.out.substr(0, 300);
  EXPECT_NE(run.out.find("checked 2000"), std::string::npos) << run.out.substr(0, 300);
}

TEST_F(CtlTest, ExpireDropsOnlyExpiredIntents) {
  {
    auto spool = OpenSpool();
    ASSERT_TRUE(spool->Append(Put("/a", "x"), milliseconds(1)).ok());
    ASSERT_TRUE(spool->Append(Put("/b", "x")).ok());
    ASSERT_TRUE(spool->Append(Put("/c", "x"), milliseconds(3600'000)).ok());
  }
  std::this_thread::sleep_for(milliseconds(20));
  ToolRun run = RunTool({"expire", spool_dir_});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_NE(run.out.find("expired 1 pending intents:"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  1  put  /a"), std::string::npos) << run.out;
  auto stats = RunTool({"stats", spool_dir_, "--json"}).JsonLines();
  EXPECT_EQ(stats[0]["pending_count"], 2);
  EXPECT_EQ(stats[0]["expired_count"], 1);
  ToolRun again = RunTool({"expire", spool_dir_});
  EXPECT_EQ(again.exit, 0);
  EXPECT_EQ(again.out, "no pending intent has expired\n");
}

TEST_F(CtlTest, PurgeRemovesPendingIntentsBySeqPathOrAll) {
  MakeSampleSpool();
  ToolRun by_seq = RunTool({"purge", spool_dir_, "--seq", "5", "--seq", "7"});
  ASSERT_EQ(by_seq.exit, 0) << by_seq.err;
  EXPECT_NE(by_seq.out.find("removed 2 pending intents:"), std::string::npos) << by_seq.out;
  ToolRun not_pending = RunTool({"purge", spool_dir_, "--seq", "5"});
  EXPECT_EQ(not_pending.exit, 5);
  EXPECT_NE(not_pending.err.find("intent 5 is not pending"), std::string::npos) << not_pending.err;

  {
    auto spool = OpenSpool();
    ASSERT_TRUE(spool->Append(Put("/svc/web/a", "again")).ok());
  }
  ToolRun by_path = RunTool({"purge", spool_dir_, "--path", "/svc/web/a"});
  ASSERT_EQ(by_path.exit, 0) << by_path.err;
  EXPECT_NE(by_path.out.find("removed 2 pending intents:"), std::string::npos) << by_path.out;  // seq 4 and 9
  EXPECT_NE(RunTool({"purge", spool_dir_, "--path", "/nope"}).out.find("nothing to purge"), std::string::npos);

  ToolRun all = RunTool({"purge", spool_dir_, "--all-pending"});
  ASSERT_EQ(all.exit, 0) << all.err;
  EXPECT_NE(all.out.find("removed 1 pending intents:"), std::string::npos) << all.out;  // the delete, 6
  auto stats = RunTool({"stats", spool_dir_, "--json"}).JsonLines();
  EXPECT_EQ(stats[0]["pending_count"], 0);
  EXPECT_EQ(stats[0]["registered_count"], 3);  // untouched
  EXPECT_EQ(stats[0]["failed_count"], 1);      // untouched
  EXPECT_EQ(stats[0]["next_sequence"], 10);    // never reused
}

TEST_F(CtlTest, PurgeOnATerminalAsksForYes) {
  MakeSampleSpool();
  ToolRun asked = RunToolOnTerminal({"purge", spool_dir_, "--all-pending"});
  EXPECT_EQ(asked.exit, 2) << asked.out;
  EXPECT_NE(asked.out.find("purge would remove 4 pending intents"), std::string::npos) << asked.out;
  EXPECT_NE(asked.out.find("--yes"), std::string::npos);
  EXPECT_EQ(RunTool({"stats", spool_dir_, "--json"}).JsonLines()[0]["pending_count"], 4);
  ToolRun confirmed = RunToolOnTerminal({"purge", spool_dir_, "--all-pending", "--yes"});
  EXPECT_EQ(confirmed.exit, 0) << confirmed.out;
  EXPECT_EQ(RunTool({"stats", spool_dir_, "--json"}).JsonLines()[0]["pending_count"], 0);
}

TEST_F(CtlTest, RetryFailedRespoolsTheFailedIntentAndClearFailedRemovesOnesForGood) {
  MakeSampleSpool();  // failed: 3 (/svc/web/z), next sequence 9
  ToolRun retried = RunTool({"retry-failed", spool_dir_});
  ASSERT_EQ(retried.exit, 0) << retried.err;
  EXPECT_NE(retried.out.find("spooled again 1 failed intents; dropped 0"), std::string::npos) << retried.out;
  EXPECT_NE(retried.out.find("/svc/web/z"), std::string::npos) << retried.out;
  auto stats = RunTool({"stats", spool_dir_, "--json"}).JsonLines();
  EXPECT_EQ(stats[0]["failed_count"], 0);
  EXPECT_EQ(stats[0]["pending_count"], 5);
  auto pending = RunTool({"pending", spool_dir_, "--path", "/svc/web/z", "--json"}).JsonLines();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["seq"], 9) << "a retry is a new intent";

  {
    auto spool = OpenSpool();
    ASSERT_TRUE(spool->MarkFailed(std::vector<uint64_t>{7, 9}, "bad ACL").ok());
  }
  ToolRun asked = RunToolOnTerminal({"clear-failed", spool_dir_});
  EXPECT_EQ(asked.exit, 2) << asked.out;
  EXPECT_NE(asked.out.find("clear-failed would remove 2 failed intents"), std::string::npos) << asked.out;
  ToolRun cleared = RunTool({"clear-failed", spool_dir_});
  ASSERT_EQ(cleared.exit, 0) << cleared.err;
  EXPECT_NE(cleared.out.find("removed 2 failed intents:"), std::string::npos) << cleared.out;
  EXPECT_NE(cleared.out.find("bad ACL"), std::string::npos) << cleared.out;
  EXPECT_EQ(RunTool({"stats", spool_dir_, "--json"}).JsonLines()[0]["failed_count"], 0);
  EXPECT_NE(RunTool({"clear-failed", spool_dir_}).out.find("no failed intents"), std::string::npos);
}

TEST_F(CtlTest, WritingCommandsRefuseASpoolInUseAndReadCommandsWork) {
  MakeSampleSpool();
  auto owner = OpenSpool();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"expire", spool_dir_}, {"purge", spool_dir_, "--all-pending"},
                                             {"retry-failed", spool_dir_}, {"clear-failed", spool_dir_},
                                             {"salvage", spool_dir_, spool_dir_ + "-salvaged", "--write"}}) {
    ToolRun run = RunTool(args);
    EXPECT_EQ(run.exit, 4) << run.err;
    EXPECT_EQ(CountLines(run.err), 1u) << run.err;
    EXPECT_NE(run.err.find("is in use by another process (" + std::to_string(::getpid()) + "@"), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find("stop its owner first"), std::string::npos) << run.err;
  }
  for (const char* command : {"stats", "pending", "registered", "dump", "verify"}) {
    ToolRun run = RunTool({command, spool_dir_});
    EXPECT_EQ(run.exit, 0) << command << ": " << run.err;
  }
  EXPECT_EQ(owner->Stats()->pending_count, 4u);
  EXPECT_FALSE(std::filesystem::exists(spool_dir_ + "-salvaged")) << "salvage copied a spool that was in use";
}

// Run as root on the agent's spool, a writing command left root-owned 0600 files there that the
// agent could not read; it must be run as the spool's owner.
TEST_F(CtlTest, WritingCommandsRefuseASpoolOfAnotherUser) {
  MakeSampleSpool();
  if (::geteuid() != 0 || ::chown(spool_dir_.c_str(), 65534, 65534) != 0) GTEST_SKIP() << "needs root to chown";
  ToolRun run = RunTool({"expire", spool_dir_});
  EXPECT_EQ(run.exit, 5) << run.err;
  EXPECT_NE(run.err.find("run expire as that user (runuser -u "), std::string::npos) << run.err;
  EXPECT_EQ(RunTool({"stats", spool_dir_}).exit, 0) << "reading is fine for anyone who may";
  ASSERT_EQ(::chown(spool_dir_.c_str(), 0, 0), 0);
  EXPECT_EQ(RunTool({"expire", spool_dir_}).exit, 0);
}

TEST_F(CtlTest, UnreachableZooKeeperIsExitFive) {
  MakeSampleSpool();
  // A port nobody listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  const std::string hosts = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto start = std::chrono::steady_clock::now();
  ToolRun run = RunTool({"diff", spool_dir_, "--zk", hosts, "--timeout-ms", "700"});
  EXPECT_EQ(run.exit, 5) << run.err;
  EXPECT_EQ(run.err, "zkspoolctl: cannot connect to ZooKeeper at " + hosts + " within 700 ms\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// The owner is another process that appends and applies as fast as it can while the read
// commands run, again and again; none of them may fail or block it.
TEST_F(CtlTest, ReadCommandsWorkWhileTheOwnerAppendsInAnotherProcess) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::execl(CTL_APPEND_CHILD, CTL_APPEND_CHILD, spool_dir_.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char ready = 0;
  ASSERT_EQ(::read(pipe_fds[0], &ready, 1), 1);
  ASSERT_EQ(ready, 'O');

  uint64_t last_next = 0;
  for (int round = 0; round < 6; ++round) {
    ToolRun stats = RunTool({"stats", spool_dir_, "--json"});
    ASSERT_EQ(stats.exit, 0) << stats.err;
    uint64_t next = stats.JsonLines().at(0)["next_sequence"];
    EXPECT_GE(next, last_next);
    last_next = next;
    EXPECT_EQ(stats.JsonLines()[0]["session_id"], "0x1234");

    ToolRun pending = RunTool({"pending", spool_dir_, "--json"});
    ASSERT_EQ(pending.exit, 0) << pending.err;
    uint64_t previous = 0;
    for (const json& j : pending.JsonLines()) {
      EXPECT_GT(j["seq"].get<uint64_t>(), previous);
      previous = j["seq"];
    }
    ToolRun registered = RunTool({"registered", spool_dir_, "--json"});
    ASSERT_EQ(registered.exit, 0) << registered.err;
    EXPECT_LE(registered.JsonLines().size(), 50u);
    ToolRun dump = RunTool({"dump", spool_dir_});
    ASSERT_EQ(dump.exit, 0) << dump.err;
    EXPECT_EQ(dump.out.find(std::string(16, 'p')), std::string::npos);
    ToolRun verify = RunTool({"verify", spool_dir_});
    ASSERT_EQ(verify.exit, 0) << verify.err << verify.out;
  }
  // The owner kept going throughout.
  ToolRun stats = RunTool({"stats", spool_dir_, "--json"});
  EXPECT_GT(stats.JsonLines().at(0)["next_sequence"].get<uint64_t>(), last_next);
  int status;
  EXPECT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the owner exited";
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  ::close(pipe_fds[0]);
  // No secondary-instance leftovers in the spool directory.
  for (const auto& entry : std::filesystem::directory_iterator(spool_dir_)) {
    EXPECT_EQ(entry.path().filename().string().find("zkspool-reader"), std::string::npos);
  }
}

}  // namespace
}  // namespace zkspool
