#include "zkspool/spool.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "spool/record_codec.h"
#include "spool/sequence_key.h"
#include "support/intents.h"
#include "support/raw_spool.h"
#include "support/temp_dir.h"

namespace zkspool {
namespace {

using testing::RawPut;

using std::chrono::milliseconds;
using testing::TempDir;

using testing::Delete;
using testing::Put;

class SpoolTest : public ::testing::Test {
 protected:
  SpoolOptions Options() {
    SpoolOptions o;
    o.clock_ms = [this] { return now_ms_.load(); };
    return o;
  }
  std::unique_ptr<Spool> OpenSpool(SpoolOptions o) {
    Result<std::unique_ptr<Spool>> spool = Spool::Open(dir_.Sub("spool"), std::move(o));
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }
  std::unique_ptr<Spool> OpenSpool() { return OpenSpool(Options()); }
  uint64_t MustAppend(Spool& spool, Intent intent, milliseconds ttl = milliseconds{0}) {
    Result<uint64_t> seq = spool.Append(std::move(intent), ttl);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? *seq : 0;
  }
  SpoolStats MustStats(const Spool& spool) {
    Result<SpoolStats> stats = spool.Stats();
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? *stats : SpoolStats{};
  }
  std::vector<SpooledIntent> AllPending(const Spool& spool) {
    Result<std::vector<SpooledIntent>> all = spool.ReadPending(0, SIZE_MAX);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    return all.ok() ? *all : std::vector<SpooledIntent>{};
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

TEST_F(SpoolTest, EveryFileOfTheSpoolIsForItsOwnerOnly) {
  const mode_t old_umask = ::umask(022);  // what RocksDB's 0644 files would get without the wrapper
  {
    auto spool = OpenSpool();
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(spool->Append(Put("/files/n" + std::to_string(i), "d")).ok());
    ASSERT_TRUE(spool->SaveSession({42, std::string(16, 'p')}).ok());
  }
  auto reopened = OpenSpool();  // a second life writes new logs, MANIFEST and OPTIONS files
  ASSERT_NE(reopened, nullptr);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.Sub("spool"))) {
    struct stat st;
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 8) << "WAL, MANIFEST, CURRENT, OPTIONS, LOCK, IDENTITY, ZKSPOOL, OWNER, HIGHWATER";
  ::umask(old_umask);
}

TEST_F(SpoolTest, OpenCreatesPrivateDirectory) {
  auto spool = OpenSpool();
  ASSERT_NE(spool, nullptr);
  struct stat st;
  ASSERT_EQ(::stat(dir_.Sub("spool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(spool->dir(), dir_.Sub("spool"));
  SpoolStats stats = MustStats(*spool);
  EXPECT_EQ(stats.pending_count, 0u);
  EXPECT_EQ(stats.next_sequence, 1u);
  EXPECT_EQ(spool->NextSequence(), 1u);
  EXPECT_EQ(stats.format_version, kSpoolFormatVersion);
  EXPECT_FALSE(stats.oldest_pending_age.has_value());
}

TEST_F(SpoolTest, OpenRefusesAFileAndAForeignDirectoryWithoutTouchingThem) {
  std::ofstream(dir_.Sub("file")) << "x";
  auto file = Spool::Open(dir_.Sub("file"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().ToString(), "not a spool: " + dir_.Sub("file") + " is not a directory");

  std::filesystem::create_directory(dir_.Sub("foreign"));
  std::ofstream(dir_.Sub("foreign") + "/notes.txt") << "mine";
  auto foreign = Spool::Open(dir_.Sub("foreign"));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().ToString(),
            "not a spool: " + dir_.Sub("foreign") + " is not a spool: it has no ZKSPOOL marker");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.Sub("foreign")), {}), 1);

  auto missing_parent = Spool::Open(dir_.Sub("no/such/parent"));
  ASSERT_FALSE(missing_parent.ok());
  EXPECT_EQ(missing_parent.status().code(), StatusCode::kIOError);
  EXPECT_NE(missing_parent.status().message().find("cannot create spool directory"), std::string::npos);
}

TEST_F(SpoolTest, SpoolWhoseCreationWasCutShortStillOpens) {
  // A kill after the directory was claimed but before RocksDB wrote CURRENT leaves this behind.
  std::filesystem::create_directory(dir_.Sub("spool"));
  std::ofstream(dir_.Sub("spool") + "/ZKSPOOL") << "";
  std::ofstream(dir_.Sub("spool") + "/LOCK") << "";
  std::ofstream(dir_.Sub("spool") + "/MANIFEST-000001") << "half written";
  auto spool = OpenSpool();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(MustAppend(*spool, Put("/a", "x")), 1u);
}

TEST_F(SpoolTest, SecondOpenInThisProcessIsRefusedAsInUse) {
  auto spool = OpenSpool();
  auto second = Spool::Open(dir_.Sub("spool"), Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kSpoolInUse);
  EXPECT_EQ(second.status().message().rfind("spool " + dir_.Sub("spool") + " is already open in this process", 0), 0u)
      << second.status().message();
}

TEST_F(SpoolTest, OpenWhileAnotherProcessOwnsItNamesDirectoryOwnerAndLock) {
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the owner: holds the spool until the parent closes `release`
    ::close(release[1]);
    auto owner = Spool::Open(dir_.Sub("spool"));
    char byte = owner.ok() ? 'y' : 'n';
    (void)!::write(ready[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 'y');
  auto second = Spool::Open(dir_.Sub("spool"));
  ::close(release[1]);
  int status;
  ::waitpid(pid, &status, 0);
  ::close(ready[0]);
  ASSERT_FALSE(second.ok());
  std::string message = second.status().ToString();
  EXPECT_EQ(message.rfind("spool in use: spool " + dir_.Sub("spool") + " is in use by another process (" +
                              std::to_string(pid) + "@",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("While lock file: " + dir_.Sub("spool") + "/LOCK: Resource temporarily unavailable"),
            std::string::npos)
      << message;
}

TEST_F(SpoolTest, AppendStoresIntentAndStampsTimes) {
  auto spool = OpenSpool();
  uint64_t a = MustAppend(*spool, Put("/svc/a", "one", NodeMode::kPersistent), milliseconds{5000});
  now_ms_ += 10;
  uint64_t b = MustAppend(*spool, Delete("/svc/b"));
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);

  Result<SpooledIntent> got = spool->GetPending(a);
  ASSERT_TRUE(got.ok());
  Intent want = Put("/svc/a", "one", NodeMode::kPersistent);
  want.enqueued_at_ms = 1'700'000'000'000;
  want.expires_at_ms = 1'700'000'005'000;
  EXPECT_EQ(got->intent, want);
  EXPECT_EQ(spool->GetPending(b)->intent.expires_at_ms, 0);
  EXPECT_EQ(spool->GetPending(99).status().ToString(), "not found: intent 99 is not pending");

  SpoolStats stats = MustStats(*spool);
  EXPECT_EQ(stats.pending_count, 2u);
  EXPECT_EQ(stats.pending_bytes, EncodedRecordSize(want) + EncodedRecordSize(Delete("/svc/b")));
  EXPECT_EQ(stats.next_sequence, 3u);
  EXPECT_EQ(stats.oldest_pending_age, milliseconds{10});
}

TEST_F(SpoolTest, ReadPendingIsOrderedAndBounded) {
  auto spool = OpenSpool();
  for (int i = 0; i < 25; ++i) MustAppend(*spool, Put("/p/" + std::to_string(i), "d"));
  auto first = spool->ReadPending(0, 10);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 10u);
  EXPECT_EQ(first->front().seq, 1u);
  EXPECT_EQ(first->back().seq, 10u);
  auto rest = spool->ReadPending(first->back().seq + 1, 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 15u);
  for (size_t i = 0; i < rest->size(); ++i) EXPECT_EQ((*rest)[i].seq, 11 + i);
  EXPECT_TRUE(spool->ReadPending(26, 10)->empty());
  EXPECT_TRUE(spool->ReadPending(0, 0)->empty());
}

// What the reconciler loads is bounded in bytes too: 1,000 intents of 1 MiB would be 1 GiB.
TEST_F(SpoolTest, ReadsStopAtTheByteBoundButAlwaysReturnOne) {
  auto spool = OpenSpool();
  const std::string data(100'000, 'd');
  for (int i = 0; i < 10; ++i) MustAppend(*spool, Put("/b/" + std::to_string(i), data));
  auto some = spool->ReadPending(0, 1000, 350'000);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 3u) << "three records of ~100 kB fit in 350 kB, four do not";
  auto one = spool->ReadPending(0, 1000, 10);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u) << "the first, whatever its size: a cursor must move";
  auto rest = spool->ReadPending(some->back().seq + 1, 1000);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), 7u);

  std::vector<uint64_t> all;
  for (uint64_t seq = 1; seq <= 10; ++seq) all.push_back(seq);
  ASSERT_TRUE(spool->MarkApplied(all).ok());
  auto snapshot = spool->Snapshot();
  auto chunk = spool->ReadRegisteredUnchanged(*snapshot, "", 1000, 350'000);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->nodes.size(), 3u);
  EXPECT_FALSE(chunk->done);
  auto next = spool->ReadRegisteredUnchanged(*snapshot, chunk->last_path, 1000);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->nodes.size(), 7u);
  EXPECT_TRUE(next->done);
}

TEST_F(SpoolTest, SequenceNumbersAreNeverReusedAcrossReopen) {
  uint64_t last;
  {
    auto spool = OpenSpool();
    for (int i = 0; i < 5; ++i) last = MustAppend(*spool, Put("/a", "x"));
    std::vector<uint64_t> all = {1, 2, 3, 4, 5};
    ASSERT_TRUE(spool->MarkApplied(all).ok());  // nothing pending is left to show the high mark
  }
  auto spool = OpenSpool();
  EXPECT_EQ(MustStats(*spool).next_sequence, last + 1);
  EXPECT_EQ(spool->NextSequence(), last + 1);
  EXPECT_EQ(MustAppend(*spool, Put("/a", "y")), last + 1);
  EXPECT_EQ(spool->NextSequence(), last + 2);
}

TEST_F(SpoolTest, MarkAppliedMovesIntentsToTheRegisteredSetInOrder) {
  auto spool = OpenSpool();
  uint64_t put_a = MustAppend(*spool, Put("/a", "a1"));
  uint64_t put_b = MustAppend(*spool, Put("/b", "b1"));
  uint64_t del_b = MustAppend(*spool, Delete("/b"));
  uint64_t del_c = MustAppend(*spool, Delete("/c"));
  uint64_t put_c = MustAppend(*spool, Put("/c", "c2"));
  uint64_t keep = MustAppend(*spool, Put("/d", "d1"));
  std::vector<uint64_t> applied = {put_c, del_b, put_a, put_b, del_c};  // order of the call does not matter
  ASSERT_TRUE(spool->MarkApplied(applied).ok());

  auto pending = AllPending(*spool);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].seq, keep);

  auto registered = spool->ReadRegistered("", 100);
  ASSERT_TRUE(registered.ok());
  ASSERT_EQ(registered->size(), 2u);
  EXPECT_EQ((*registered)[0].intent.path, "/a");
  EXPECT_EQ((*registered)[0].intent.data, "a1");
  EXPECT_EQ((*registered)[0].seq, put_a);
  EXPECT_EQ((*registered)[1].intent.path, "/c");
  EXPECT_EQ((*registered)[1].intent.data, "c2");
  EXPECT_EQ(spool->GetRegistered("/b").status().ToString(), "not found: path /b is not registered");
  EXPECT_EQ(MustStats(*spool).registered_count, 2u);
  EXPECT_EQ(MustStats(*spool).pending_count, 1u);

  auto after_a = spool->ReadRegistered("/a", 100);
  ASSERT_EQ(after_a->size(), 1u);
  EXPECT_EQ((*after_a)[0].intent.path, "/c");

  std::vector<uint64_t> del_a = {MustAppend(*spool, Delete("/a"))};
  ASSERT_TRUE(spool->MarkApplied(del_a).ok());
  EXPECT_EQ(MustStats(*spool).registered_count, 1u);
}

TEST_F(SpoolTest, MarkAppliedOfAnUnknownSequenceChangesNothing) {
  auto spool = OpenSpool();
  uint64_t a = MustAppend(*spool, Put("/a", "x"));
  std::vector<uint64_t> seqs = {a, 42};
  Status s = spool->MarkApplied(seqs);
  EXPECT_EQ(s.ToString(), "not found: intent 42 is not pending");
  EXPECT_EQ(AllPending(*spool).size(), 1u);
  EXPECT_EQ(MustStats(*spool).registered_count, 0u);
}

TEST_F(SpoolTest, ExpireDropsOnlyDueIntentsAndCountsThemDurably) {
  {
    auto spool = OpenSpool();
    uint64_t short_ttl = MustAppend(*spool, Put("/a", "x"), milliseconds{100});
    uint64_t no_ttl = MustAppend(*spool, Put("/b", "x"));
    uint64_t long_ttl = MustAppend(*spool, Put("/c", "x"), milliseconds{10'000});
    uint64_t exactly_due = MustAppend(*spool, Delete("/d"), milliseconds{500});

    auto none = spool->Expire(now_ms_ + 99);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());

    auto dropped = spool->Expire(now_ms_ + 500);
    ASSERT_TRUE(dropped.ok());
    ASSERT_EQ(dropped->size(), 2u);
    EXPECT_EQ((*dropped)[0].seq, short_ttl);
    EXPECT_EQ((*dropped)[1].seq, exactly_due);
    auto pending = AllPending(*spool);
    ASSERT_EQ(pending.size(), 2u);
    EXPECT_EQ(pending[0].seq, no_ttl);
    EXPECT_EQ(pending[1].seq, long_ttl);
    EXPECT_EQ(MustStats(*spool).expired_count, 2u);
  }
  auto reopened = OpenSpool();
  EXPECT_EQ(MustStats(*reopened).expired_count, 2u);
  EXPECT_EQ(MustStats(*reopened).pending_count, 2u);
}

TEST_F(SpoolTest, ExpireKeepsIntentsTheCallerIsApplying) {
  auto spool = OpenSpool();
  uint64_t busy = MustAppend(*spool, Put("/a", "x"), milliseconds{1});
  uint64_t idle = MustAppend(*spool, Put("/b", "x"), milliseconds{1});
  auto dropped = spool->Expire(now_ms_ + 1, {busy});
  ASSERT_TRUE(dropped.ok());
  ASSERT_EQ(dropped->size(), 1u);
  EXPECT_EQ((*dropped)[0].seq, idle);
  EXPECT_TRUE(spool->GetPending(busy).ok());
}

TEST_F(SpoolTest, MarkFailedParksIntentsWithTheirReason) {
  {
    auto spool = OpenSpool();
    uint64_t a = MustAppend(*spool, Put("/a", "x"));
    uint64_t b = MustAppend(*spool, Put("/b", "y"));
    std::vector<uint64_t> seqs = {a};
    ASSERT_TRUE(spool->MarkFailed(seqs, "create of /a failed: not authenticated").ok());
    std::vector<uint64_t> unknown = {b, 99};
    EXPECT_EQ(spool->MarkFailed(unknown, "x").ToString(), "not found: intent 99 is not pending");
    EXPECT_EQ(AllPending(*spool).size(), 1u);
  }
  auto spool = OpenSpool();
  auto failed = spool->ReadFailed(0, 10);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].record.seq, 1u);
  EXPECT_EQ((*failed)[0].record.intent.path, "/a");
  EXPECT_EQ((*failed)[0].reason, "create of /a failed: not authenticated");
  SpoolStats stats = MustStats(*spool);
  EXPECT_EQ(stats.failed_count, 1u);
  EXPECT_EQ(stats.pending_count, 1u);
  EXPECT_EQ(stats.registered_count, 0u);
}

TEST_F(SpoolTest, RemoveFailedDropsThemForGoodAndNamesAnUnknownOne) {
  {
    auto spool = OpenSpool();
    uint64_t a = MustAppend(*spool, Put("/a", "x"));
    uint64_t b = MustAppend(*spool, Put("/b", "y"));
    std::vector<uint64_t> both = {a, b};
    ASSERT_TRUE(spool->MarkFailed(both, "bad ACL").ok());
    std::vector<uint64_t> unknown = {a, 99};
    EXPECT_EQ(spool->RemoveFailed(unknown).status().ToString(), "not found: intent 99 is not in the failed set");
    EXPECT_EQ(MustStats(*spool).failed_count, 2u) << "a refused removal removed something";
    std::vector<uint64_t> one = {a};
    auto removed = spool->RemoveFailed(one);
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    ASSERT_EQ(removed->size(), 1u);
    EXPECT_EQ((*removed)[0].record.intent.path, "/a");
    EXPECT_EQ((*removed)[0].reason, "bad ACL");
    EXPECT_EQ(MustStats(*spool).failed_count, 1u);
  }
  auto spool = OpenSpool();
  auto failed = spool->ReadFailed(0, 10);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].record.intent.path, "/b");
  EXPECT_EQ(MustStats(*spool).failed_count, 1u);
}

// Per path the intent with the highest sequence number decides; RetryFailed never changes that.
TEST_F(SpoolTest, RetryFailedRespoolsOnlyTheNewestWordOfEachPath) {
  auto spool = OpenSpool();
  auto fail = [&](Intent intent, milliseconds ttl = milliseconds{0}) {
    uint64_t seq = *spool->Append(std::move(intent), ttl);
    std::vector<uint64_t> seqs = {seq};
    EXPECT_TRUE(spool->MarkFailed(seqs, "ephemeral parent").ok());
    return seq;
  };
  Intent ttl_put = Put("/retry/alone", "a", NodeMode::kPersistent);
  ttl_put.acl = AclChoice::kCreatorAll;
  const uint64_t alone = fail(ttl_put, milliseconds(60'000));
  const uint64_t older = fail(Put("/retry/twice", "old"));
  const uint64_t newer = fail(Put("/retry/twice", "new"));
  const uint64_t behind_pending = fail(Put("/retry/pending", "p"));
  const uint64_t pending = MustAppend(*spool, Delete("/retry/pending"));
  const uint64_t behind_registered = fail(Put("/retry/registered", "r"));
  const uint64_t registered = MustAppend(*spool, Put("/retry/registered", "applied later"));
  std::vector<uint64_t> applied = {registered};
  ASSERT_TRUE(spool->MarkApplied(applied).ok());
  // A registered node older than the failed intent does not supersede it.
  std::vector<uint64_t> stale = {MustAppend(*spool, Put("/retry/stale-registered", "before"))};
  ASSERT_TRUE(spool->MarkApplied(stale).ok());
  const uint64_t after_registered = fail(Put("/retry/stale-registered", "wanted"));
  now_ms_ += 1000;

  auto report = spool->RetryFailed();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::map<uint64_t, uint64_t> retried;  // failed seq -> new seq
  for (const auto& r : report->retried) retried[r.failed_seq] = r.new_seq;
  std::set<uint64_t> superseded;
  for (const auto& f : report->superseded) superseded.insert(f.record.seq);
  EXPECT_EQ(superseded, (std::set<uint64_t>{older, behind_pending, behind_registered}));
  ASSERT_EQ(retried.size(), 3u);
  EXPECT_TRUE(retried.contains(alone));
  EXPECT_TRUE(retried.contains(newer));
  EXPECT_TRUE(retried.contains(after_registered));
  for (const auto& [old_seq, new_seq] : retried) EXPECT_GT(new_seq, pending) << "a retry must be the newest intent";
  EXPECT_EQ(MustStats(*spool).failed_count, 0u);

  auto again = spool->GetPending(retried[alone]);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->intent.path, "/retry/alone");
  EXPECT_EQ(again->intent.data, "a");
  EXPECT_EQ(again->intent.mode, NodeMode::kPersistent);
  EXPECT_EQ(again->intent.acl, AclChoice::kCreatorAll);
  EXPECT_EQ(again->intent.enqueued_at_ms, now_ms_.load());
  EXPECT_EQ(again->intent.expires_at_ms, now_ms_.load() + 60'000) << "the retry gets the TTL span it had";
  EXPECT_EQ(spool->GetPending(retried[newer])->intent.data, "new");

  // A crash between the append and the removal leaves a failed copy behind its own retry: the
  // next call drops it as superseded instead of spooling it twice.
  const uint64_t crashed = fail(Put("/retry/crash", "c"));
  MustAppend(*spool, Put("/retry/crash", "c"));
  auto second = spool->RetryFailed();
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->retried.empty());
  ASSERT_EQ(second->superseded.size(), 1u);
  EXPECT_EQ(second->superseded[0].record.seq, crashed);
}

TEST_F(SpoolTest, ForgetSessionKeepsItAmongTheOwnedOnes) {
  auto spool = OpenSpool();
  SessionInfo session{0x1234, std::string(16, 'p')};
  ASSERT_TRUE(spool->SaveSession(session).ok());
  ASSERT_TRUE(spool->ForgetSession().ok());
  EXPECT_FALSE(spool->LoadSession()->has_value());
  EXPECT_EQ(*spool->OwnedSessions(), std::vector<int64_t>{0x1234});
}

TEST_F(SpoolTest, FullSpoolRefusesAppendsAndKeepsWhatItHas) {
  SpoolOptions o = Options();
  o.max_pending_intents = 3;
  auto spool = OpenSpool(o);
  for (int i = 0; i < 3; ++i) MustAppend(*spool, Put("/a" + std::to_string(i), "x"));
  auto before = AllPending(*spool);
  Result<uint64_t> refused = spool->Append(Put("/z", "x"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().ToString(),
            "spool full: spool " + dir_.Sub("spool") + " holds 3 pending intents, the limit (max_pending_intents)");
  EXPECT_EQ(AllPending(*spool), before);

  std::vector<uint64_t> one = {before[0].seq};
  ASSERT_TRUE(spool->MarkApplied(one).ok());
  EXPECT_EQ(MustAppend(*spool, Put("/z", "x")), 4u);  // the refused append used no sequence number
}

TEST_F(SpoolTest, ByteLimitRefusesAppendsAndKeepsWhatItHas) {
  SpoolOptions o = Options();
  const uint64_t one_record = EncodedRecordSize(Put("/a", std::string(100, 'x')));
  o.max_pending_bytes = 2 * one_record;
  auto spool = OpenSpool(o);
  MustAppend(*spool, Put("/a", std::string(100, 'x')));
  MustAppend(*spool, Put("/b", std::string(100, 'x')));
  Result<uint64_t> refused = spool->Append(Put("/c", "x"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kSpoolFull);
  EXPECT_EQ(refused.status().message(), "spool " + dir_.Sub("spool") + " holds " + std::to_string(2 * one_record) +
                                            " bytes of pending intents; " +
                                            std::to_string(EncodedRecordSize(Put("/c", "x"))) +
                                            " more would pass the limit (max_pending_bytes " +
                                            std::to_string(2 * one_record) + ")");
  EXPECT_EQ(AllPending(*spool).size(), 2u);
}

TEST_F(SpoolTest, BadInputIsRefusedAndStoresNothing) {
  SpoolOptions o = Options();
  o.max_data_bytes = 10;
  auto spool = OpenSpool(o);
  MustAppend(*spool, Put("/ok", "x"));
  EXPECT_EQ(spool->Append(Put("/a//b", "x")).status().ToString(),
            "invalid argument: path \"/a//b\" has an empty segment ('//')");
  EXPECT_EQ(spool->Append(Put("/a", std::string(11, 'x'))).status().ToString(),
            "invalid argument: data for \"/a\" is 11 bytes; the limit is 10");
  EXPECT_EQ(spool->Append(Put("/a", "x"), milliseconds{-5}).status().code(), StatusCode::kInvalidArgument);
  SpoolStats stats = MustStats(*spool);
  EXPECT_EQ(stats.pending_count, 1u);
  EXPECT_EQ(stats.next_sequence, 2u);
}

TEST_F(SpoolTest, DefaultDataLimitLeavesMarginUnderJuteMaxBuffer) {
  auto spool = OpenSpool();
  EXPECT_TRUE(spool->Append(Put("/big", std::string(kDefaultMaxDataBytes, 'x'))).ok());
  EXPECT_EQ(spool->Append(Put("/big", std::string(kDefaultMaxDataBytes + 1, 'x'))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_LT(kDefaultMaxDataBytes + kMaxPathBytes, 0xfffffu);
}

TEST_F(SpoolTest, SessionIsSavedAndOwnedSessionsAreKeptInOrder) {
  {
    auto spool = OpenSpool();
    EXPECT_FALSE(spool->LoadSession()->has_value());
    for (int64_t id = 1; id <= 70; ++id) {
      ASSERT_TRUE(spool->SaveSession({id, std::string(16, static_cast<char>(id))}).ok());
    }
    ASSERT_TRUE(spool->SaveSession({70, std::string(16, 'z')}).ok());  // same id again: listed once
  }
  auto spool = OpenSpool();
  auto session = spool->LoadSession();
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(session->has_value());
  EXPECT_EQ((*session)->id, 70);
  EXPECT_EQ((*session)->password, std::string(16, 'z'));
  auto owned = spool->OwnedSessions();
  ASSERT_TRUE(owned.ok());
  ASSERT_EQ(owned->size(), 64u);
  EXPECT_EQ(owned->front(), 7);
  EXPECT_EQ(owned->back(), 70);
}

TEST_F(SpoolTest, SpoolOfANewerFormatIsRefused) {
  OpenSpool().reset();
  std::string three(8, '\0');
  three[0] = 3;
  RawPut(dir_.Sub("spool"), kMetaIndex, "format_version", three);
  auto spool = Spool::Open(dir_.Sub("spool"), Options());
  ASSERT_FALSE(spool.ok());
  EXPECT_EQ(spool.status().ToString(),
            "newer format: spool " + dir_.Sub("spool") + " has format version 3; this build supports up to 2");
}

TEST_F(SpoolTest, DamagedOrNewerRecordsAreReportedWithTheirKey) {
  {
    auto spool = OpenSpool();
    MustAppend(*spool, Put("/a", "x"));
    MustAppend(*spool, Put("/b", "x"));
  }
  std::string record = EncodeRecord({2, Put("/b", "x")});
  record[10] ^= 1;
  RawPut(dir_.Sub("spool"), kIntentsIndex, SequenceKey(2), record);
  {
    auto spool = OpenSpool();
    ASSERT_NE(spool, nullptr);
    EXPECT_TRUE(spool->GetPending(1).ok());
    EXPECT_EQ(spool->GetPending(2).status().ToString(), "corruption: intent 2: record checksum mismatch");
    EXPECT_EQ(spool->ReadPending(0, 10).status().ToString(), "corruption: intent 2: record checksum mismatch");
    std::vector<uint64_t> seqs = {2};
    EXPECT_EQ(spool->MarkApplied(seqs).code(), StatusCode::kCorruption);
  }
  RawPut(dir_.Sub("spool"), kIntentsIndex, SequenceKey(3), EncodeRecord({4, Put("/c", "x")}));
  auto spool = OpenSpool();
  EXPECT_EQ(spool->GetPending(3).status().ToString(), "corruption: intent key 3 holds the record of seq 4");
}

TEST_F(SpoolTest, ReadsDoNotRescanRemovedIntents) {
  SpoolOptions o = Options();
  o.compact_after_removed = UINT64_MAX;  // tombstones stay; only the scan floor can help
  auto spool = OpenSpool(o);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 3000; ++i) seqs.push_back(MustAppend(*spool, Put("/p", "x")));
  uint64_t last = seqs.back();
  seqs.pop_back();
  ASSERT_TRUE(spool->MarkApplied(seqs).ok());

  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  ASSERT_EQ(AllPending(*spool).front().seq, last);  // this scan crosses the tombstones once
  rocksdb::get_perf_context()->Reset();
  auto again = spool->ReadPending(0, 1);
  ASSERT_EQ(again->front().seq, last);
  EXPECT_LT(rocksdb::get_perf_context()->internal_delete_skipped_count, 10u);
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
}

TEST_F(SpoolTest, RemovedIntentsAreCompactedAway) {
  SpoolOptions o = Options();
  o.compact_after_removed = 500;
  auto spool = OpenSpool(o);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 2000; ++i) seqs.push_back(MustAppend(*spool, Put("/p", "x")));
  uint64_t last = seqs.back();
  seqs.pop_back();
  ASSERT_TRUE(spool->MarkApplied(seqs).ok());
  // The compaction runs in the background; nothing has read the range since the removal.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (spool->Stats()->compactions == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(spool->Stats()->compactions, 1u);

  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  auto first = spool->ReadPending(0, 1);  // first scan since the removal: no tombstones left to cross
  ASSERT_EQ(first->front().seq, last);
  EXPECT_LT(rocksdb::get_perf_context()->internal_delete_skipped_count, 10u);
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
}

TEST_F(SpoolTest, ConcurrentAppendsGetDistinctSequenceNumbersAndAllSurvive) {
  auto spool = OpenSpool();
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto seq = spool->Append(Put("/t" + std::to_string(t), std::to_string(i)));
        if (seq.ok()) got[t].push_back(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(got[t].size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(std::is_sorted(got[t].begin(), got[t].end()));
    for (size_t i = 0; i < got[t].size(); ++i) {
      all.insert(got[t][i]);
      auto record = spool->GetPending(got[t][i]);
      ASSERT_TRUE(record.ok());
      EXPECT_EQ(record->intent.path, "/t" + std::to_string(t));
      EXPECT_EQ(record->intent.data, std::to_string(i));
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(AllPending(*spool).size(), all.size());
}

TEST_F(SpoolTest, LogsThroughTheApplicationsLogger) {
  std::ostringstream lines;
  auto logger = std::make_shared<spdlog::logger>("app", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
  logger->set_level(spdlog::level::info);
  SpoolOptions o = Options();
  o.logger = logger;
  auto spool = OpenSpool(o);
  MustAppend(*spool, Put("/a", "x"), milliseconds{1});
  ASSERT_TRUE(spool->Expire(now_ms_ + 1).ok());
  EXPECT_NE(lines.str().find("opened spool " + dir_.Sub("spool") + ": 0 pending, 0 registered, next seq 1"),
            std::string::npos)
      << lines.str();
  EXPECT_NE(lines.str().find("dropped 1 expired intents (seq 1 .. 1)"), std::string::npos) << lines.str();
}

}  // namespace
}  // namespace zkspool
