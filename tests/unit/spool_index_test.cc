// What spool format 2 added: counters kept in the meta family (Open reads them instead of
// walking the backlog), the expiry index (ReadDue / NextExpiry cost what is due, not what is
// pending), the upgrade of a format-1 spool, and keep_mode puts.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>

#include "spool/meta_codec.h"
#include "spool/record_codec.h"
#include "spool/sequence_key.h"
#include "spool/spool_schema.h"
#include "support/intents.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

using testing::Delete;
using testing::Put;

class SpoolIndexTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool(SpoolOptions o = {}) {
    o.clock_ms = [this] { return now_ms_.load(); };
    Result<std::unique_ptr<Spool>> spool = Spool::Open(dir_.Sub("spool"), std::move(o));
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }
  uint64_t MustAppend(Spool& spool, Intent intent, milliseconds ttl = milliseconds{0}) {
    Result<uint64_t> seq = spool.Append(std::move(intent), ttl);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? *seq : 0;
  }
  static std::vector<uint64_t> Seqs(const std::vector<SpooledIntent>& records) {
    std::vector<uint64_t> out;
    for (const SpooledIntent& r : records) out.push_back(r.seq);
    return out;
  }

  testing::TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

TEST_F(SpoolIndexTest, CountsSurviveReopeningWithoutAWalk) {
  {
    auto spool = OpenSpool();
    std::vector<uint64_t> seqs;
    for (int i = 0; i < 30; ++i) seqs.push_back(MustAppend(*spool, Put("/c/" + std::to_string(i), "data")));
    MustAppend(*spool, Put("/c/ttl", "x"), milliseconds(10));
    ASSERT_TRUE(spool->MarkApplied(std::span(seqs).first(10)).ok());
    ASSERT_TRUE(spool->MarkFailed(std::span(seqs).subspan(10, 5), "bad").ok());
    now_ms_ += 20;
    ASSERT_EQ(spool->Expire(now_ms_).value().size(), 1u);
  }
  auto spool = OpenSpool();
  SpoolStats stats = spool->Stats().value();
  EXPECT_EQ(stats.pending_count, 15u);
  EXPECT_EQ(stats.registered_count, 10u);
  EXPECT_EQ(stats.failed_count, 5u);
  EXPECT_EQ(stats.expired_count, 1u);
  uint64_t bytes = 0;
  std::vector<SpooledIntent> pending = spool->ReadPending(0, 100).value();
  for (const SpooledIntent& r : pending) bytes += EncodedRecordSize(r.intent);
  EXPECT_EQ(stats.pending_bytes, bytes);
}

TEST_F(SpoolIndexTest, ReadDueReturnsWhatRanOutEarliestFirstAndNextExpiryLeadsTheWay) {
  auto spool = OpenSpool();
  EXPECT_FALSE(spool->NextExpiry().has_value());
  const int64_t t0 = now_ms_;
  uint64_t late = MustAppend(*spool, Put("/late", "x"), milliseconds(300));
  uint64_t early = MustAppend(*spool, Put("/early", "x"), milliseconds(100));
  MustAppend(*spool, Put("/never", "x"));
  uint64_t mid = MustAppend(*spool, Delete("/mid"), milliseconds(200));
  EXPECT_EQ(spool->NextExpiry(), t0 + 100);

  EXPECT_TRUE(spool->ReadDue(t0 + 99, 10).value().empty());
  EXPECT_EQ(Seqs(spool->ReadDue(t0 + 200, 10).value()), (std::vector<uint64_t>{early, mid}));
  EXPECT_EQ(Seqs(spool->ReadDue(t0 + 1000, 1).value()), (std::vector<uint64_t>{early}));
  ASSERT_TRUE(spool->ExpireIntents(std::vector<uint64_t>{early}).ok());
  EXPECT_EQ(Seqs(spool->ReadDue(t0 + 1000, 10).value()), (std::vector<uint64_t>{mid, late}));
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{mid}).ok());  // applied in time: leaves the index
  EXPECT_EQ(Seqs(spool->ReadDue(t0 + 1000, 10).value()), (std::vector<uint64_t>{late}));
  EXPECT_EQ(spool->NextExpiry(), t0 + 300);
  ASSERT_TRUE(spool->ExpireIntents(std::vector<uint64_t>{late}).ok());
  EXPECT_TRUE(spool->ReadDue(t0 + 1000, 10).value().empty());
  EXPECT_FALSE(spool->NextExpiry().has_value());
  EXPECT_EQ(spool->Stats()->expired_count, 2u);
}

// An idle expiry check must not cost the backlog: intents applied before their TTL leave
// tombstones in the index, and a second look crosses none of them again.
TEST_F(SpoolIndexTest, ReadDueDoesNotRescanWhatWasRemoved) {
  SpoolOptions o;
  o.compact_after_removed = UINT64_MAX;  // tombstones stay; only the floor can help
  o.durability = Durability::kBuffered;
  auto spool = OpenSpool(o);
  std::vector<uint64_t> applied;
  for (int i = 0; i < 2000; ++i) applied.push_back(MustAppend(*spool, Put("/a" + std::to_string(i), "x"), milliseconds(100 + i)));
  uint64_t keep = MustAppend(*spool, Put("/kept", "x"), milliseconds(5000));
  ASSERT_TRUE(spool->MarkApplied(applied).ok());
  now_ms_ += 3000;  // every removed entry would have been due by now
  EXPECT_TRUE(spool->ReadDue(now_ms_, 10).value().empty());  // crosses the tombstones once
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  EXPECT_TRUE(spool->ReadDue(now_ms_, 10).value().empty());
  EXPECT_LT(rocksdb::get_perf_context()->internal_delete_skipped_count, 10u);
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  now_ms_ += 3000;
  EXPECT_EQ(Seqs(spool->ReadDue(now_ms_, 10).value()), (std::vector<uint64_t>{keep}));
}

// A TTL append whose clock runs behind an earlier scan lands below the index floor; it must
// still be found.
TEST_F(SpoolIndexTest, AnAppendBelowTheFloorIsStillFound) {
  auto spool = OpenSpool();
  MustAppend(*spool, Put("/a", "x"), milliseconds(10'000));
  EXPECT_TRUE(spool->ReadDue(now_ms_ + 5000, 10).value().empty());  // floor moves up to the entry
  now_ms_ -= 60'000;  // the wall clock stepped back
  uint64_t behind = MustAppend(*spool, Put("/b", "x"), milliseconds(10));
  EXPECT_EQ(spool->NextExpiry(), now_ms_ + 10);
  EXPECT_EQ(Seqs(spool->ReadDue(now_ms_ + 20, 10).value()), (std::vector<uint64_t>{behind}));
}

TEST_F(SpoolIndexTest, ExpireKeepsWhatTheCallerIsApplying) {
  auto spool = OpenSpool();
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back(MustAppend(*spool, Put("/e" + std::to_string(i), "x"), milliseconds(5)));
  now_ms_ += 10;
  auto dropped = spool->Expire(now_ms_, {seqs[3], seqs[7]});
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->size(), 8u);
  EXPECT_EQ(Seqs(spool->ReadPending(0, 100).value()), (std::vector<uint64_t>{seqs[3], seqs[7]}));
}

TEST_F(SpoolIndexTest, AFormatOneSpoolIsUpgradedOnOpen) {
  const std::string dir = dir_.Sub("spool");
  {  // what a format-1 build left: four families of its own, no counters, no index
    std::filesystem::create_directory(dir);
    std::ofstream(dir + "/ZKSPOOL") << "zkspool spool directory\n";
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kIntentsFamily, kRegisteredFamily, kMetaFamily,
                             kFailedFamily}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, families, &h, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    Intent ttl = Put("/old/ttl", "x");
    ttl.enqueued_at_ms = now_ms_;
    ttl.expires_at_ms = now_ms_ + 50;
    ASSERT_TRUE(db->Put({}, h[1], SequenceKey(7), EncodeRecord({7, ttl})).ok());
    ASSERT_TRUE(db->Put({}, h[1], SequenceKey(9), EncodeRecord({9, Put("/old/plain", "y")})).ok());
    ASSERT_TRUE(db->Put({}, h[2], "/old/reg", EncodeRecord({3, Put("/old/reg", "z")})).ok());
    ASSERT_TRUE(db->Put({}, h[3], "format_version", EncodeU64(1)).ok());
    ASSERT_TRUE(db->Put({}, h[3], "sequence_floor", EncodeU64(8)).ok());
    for (auto* handle : h) db->DestroyColumnFamilyHandle(handle);
  }
  auto spool = OpenSpool();
  ASSERT_NE(spool, nullptr);
  SpoolStats stats = spool->Stats().value();
  EXPECT_EQ(stats.pending_count, 2u);
  EXPECT_EQ(stats.registered_count, 1u);
  EXPECT_EQ(stats.next_sequence, 10u);
  EXPECT_EQ(spool->NextExpiry(), now_ms_ + 50);
  EXPECT_EQ(Seqs(spool->ReadDue(now_ms_ + 50, 10).value()), (std::vector<uint64_t>{7}));
  spool.reset();
  EXPECT_EQ(OpenSpool()->Stats()->pending_count, 2u);  // upgraded once; the counts are its own now
}

// Update without a mode: the node keeps the mode of the put before it, pending or registered.
TEST_F(SpoolIndexTest, AKeepModePutTakesTheModeOfThePutBeforeIt) {
  auto spool = OpenSpool();
  Intent keep = Put("/k", "v2");
  keep.keep_mode = true;
  uint64_t first = MustAppend(*spool, Put("/k", "v1", NodeMode::kPersistent));
  uint64_t second = MustAppend(*spool, keep);
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{first, second}).ok());
  SpooledIntent node = spool->GetRegistered("/k").value();
  EXPECT_EQ(node.intent.mode, NodeMode::kPersistent);
  EXPECT_EQ(node.intent.data, "v2");
  EXPECT_FALSE(node.intent.keep_mode);

  keep.data = "v3";
  uint64_t third = MustAppend(*spool, keep);  // the registered node is the put before it now
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{third}).ok());
  EXPECT_EQ(spool->GetRegistered("/k")->intent.mode, NodeMode::kPersistent);

  Intent fresh = Put("/fresh", "x", NodeMode::kEphemeral);
  fresh.keep_mode = true;  // nothing before it: its own mode
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{MustAppend(*spool, fresh)}).ok());
  EXPECT_EQ(spool->GetRegistered("/fresh")->intent.mode, NodeMode::kEphemeral);
}

TEST_F(SpoolIndexTest, MarkAppliedByPathRegistersTheResolvedNode) {
  auto spool = OpenSpool();
  uint64_t a1 = MustAppend(*spool, Put("/p/a", "1"));
  uint64_t a2 = MustAppend(*spool, Put("/p/a", "2"));
  uint64_t b = MustAppend(*spool, Delete("/p/b"));
  Result<SpooledIntent> a2_record = spool->GetPending(a2);
  std::vector<AppliedPath> applied = {{"/p/a", {a1, a2}, *a2_record}, {"/p/b", {b}, std::nullopt}};
  ASSERT_TRUE(spool->MarkApplied(applied).ok());
  EXPECT_EQ(spool->GetRegistered("/p/a")->intent.data, "2");
  EXPECT_EQ(spool->Stats()->pending_count, 0u);
  EXPECT_EQ(spool->Stats()->registered_count, 1u);

  SpooledIntent wrong = *a2_record;
  wrong.intent.keep_mode = true;
  uint64_t c = MustAppend(*spool, Put("/p/a", "3"));
  std::vector<AppliedPath> unresolved = {{"/p/a", {c}, wrong}};
  EXPECT_EQ(spool->MarkApplied(unresolved).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->Stats()->pending_count, 1u);
}

// A pass over the registered set sees it as the pass began, minus what changed since (applied
// again or deregistered after the pass started: nothing left to re-create).
TEST_F(SpoolIndexTest, APassOverTheRegisteredSetSkipsWhatChangedSinceItBegan) {
  auto spool = OpenSpool();
  std::vector<uint64_t> seqs;
  for (const char* p : {"/r/a", "/r/b", "/r/c", "/r/d"}) seqs.push_back(MustAppend(*spool, Put(p, "1")));
  ASSERT_TRUE(spool->MarkApplied(seqs).ok());
  std::shared_ptr<const SpoolSnapshot> since = spool->Snapshot();
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{MustAppend(*spool, Put("/r/b", "2"))}).ok());
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{MustAppend(*spool, Delete("/r/c"))}).ok());
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{MustAppend(*spool, Put("/r/aa", "new"))}).ok());

  auto first = spool->ReadRegisteredUnchanged(*since, "", 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->nodes.size(), 1u) << "/r/b was put again since";
  EXPECT_EQ(first->nodes[0].intent.path, "/r/a");
  EXPECT_EQ(first->last_path, "/r/b");
  EXPECT_FALSE(first->done);
  auto second = spool->ReadRegisteredUnchanged(*since, first->last_path, 2);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->nodes.size(), 1u) << "/r/c was deregistered since; /r/aa is newer than the pass";
  EXPECT_EQ(second->nodes[0].intent.path, "/r/d");
  EXPECT_TRUE(second->done);
}

}  // namespace
}  // namespace zkspool
