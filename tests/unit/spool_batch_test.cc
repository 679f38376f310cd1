// Spool::AppendBatch: many intents as one unit, all or nothing, with one log sync.
#include <gtest/gtest.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <filesystem>

#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

BatchEntry Put(const std::string& path, const std::string& data = "d", milliseconds ttl = milliseconds{0}) {
  BatchEntry e;
  e.intent.path = path;
  e.intent.data = data;
  e.ttl = ttl;
  return e;
}

// Counts the syncs of write-ahead log files, the fsyncs an append pays for.
class LogSyncCountingFs : public rocksdb::FileSystemWrapper {
 public:
  LogSyncCountingFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "LogSyncCountingFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, d);
    if (s.ok() && f.ends_with(".log")) *r = std::make_unique<Counted>(std::move(*r), &log_syncs);
    return s;
  }

  std::atomic<int> log_syncs{0};

 private:
  class Counted : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    Counted(std::unique_ptr<rocksdb::FSWritableFile> f, std::atomic<int>* n)
        : FSWritableFileOwnerWrapper(std::move(f)), n_(n) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      ++*n_;
      return target()->Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      ++*n_;
      return target()->Fsync(o, d);
    }

   private:
    std::atomic<int>* n_;
  };
};

class SpoolBatchTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool(SpoolOptions o = {}) {
    auto spool = Spool::Open(dir_.Sub("spool"), std::move(o));
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(SpoolBatchTest, EntriesGetConsecutiveNumbersInOrderAndAllAreStored) {
  auto spool = OpenSpool();
  ASSERT_EQ(*spool->Append(Put("/first").intent), 1u);
  std::vector<BatchEntry> batch = {Put("/a", "1"), Put("/b", "2", milliseconds{60'000}), Put("/c", "3")};
  batch[1].intent.op = Op::kDelete;
  batch[1].intent.data.clear();
  auto seqs = spool->AppendBatch(batch);
  ASSERT_TRUE(seqs.ok()) << seqs.status().ToString();
  EXPECT_EQ(*seqs, (std::vector<uint64_t>{2, 3, 4}));
  auto pending = spool->ReadPending(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 4u);
  EXPECT_EQ((*pending)[1].intent.path, "/a");
  EXPECT_EQ((*pending)[2].intent.op, Op::kDelete);
  EXPECT_GT((*pending)[2].intent.expires_at_ms, (*pending)[2].intent.enqueued_at_ms);
  EXPECT_EQ((*pending)[3].intent.data, "3");
  EXPECT_TRUE(spool->AppendBatch({})->empty());
  EXPECT_EQ(spool->Stats()->next_sequence, 5u);
}

TEST_F(SpoolBatchTest, OneBadEntryRefusesTheWholeBatchAndNamesIt) {
  auto spool = OpenSpool();
  auto refused = spool->AppendBatch({Put("/ok"), Put("no-slash"), Put("/also-ok")});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind("entry 1: ", 0), 0u) << refused.status().message();
  EXPECT_EQ(spool->Stats()->pending_count, 0u);
  EXPECT_EQ(*spool->Append(Put("/next").intent), 1u) << "a refused batch uses no sequence number";
}

TEST_F(SpoolBatchTest, LimitsAreCheckedForTheWholeBatch) {
  SpoolOptions o;
  o.max_pending_intents = 5;
  auto spool = OpenSpool(o);
  ASSERT_TRUE(spool->AppendBatch({Put("/a"), Put("/b"), Put("/c")}).ok());
  auto refused = spool->AppendBatch({Put("/d"), Put("/e"), Put("/f")});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kSpoolFull);
  EXPECT_NE(refused.status().message().find("max_pending_intents 5"), std::string::npos) << refused.status().message();
  EXPECT_EQ(spool->Stats()->pending_count, 3u);
  EXPECT_TRUE(spool->AppendBatch({Put("/d"), Put("/e")}).ok());

  spool.reset();
  std::filesystem::remove_all(dir_.Sub("spool"));
  SpoolOptions bytes;
  bytes.max_pending_bytes = 2000;
  spool = OpenSpool(bytes);
  auto too_big = spool->AppendBatch({Put("/x", std::string(700, 'x')), Put("/y", std::string(700, 'y')),
                                     Put("/z", std::string(700, 'z'))});
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), StatusCode::kSpoolFull);
  EXPECT_EQ(spool->Stats()->pending_bytes, 0u);
}

TEST_F(SpoolBatchTest, ABatchCostsOneLogSyncWhereSingleAppendsCostOneEach) {
  auto fs = std::make_shared<LogSyncCountingFs>();
  SpoolOptions o;
  o.file_system = fs;
  auto spool = OpenSpool(o);
  std::vector<BatchEntry> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(Put("/batch/n" + std::to_string(i)));
  const int before = fs->log_syncs;
  ASSERT_TRUE(spool->AppendBatch(std::move(batch)).ok());
  EXPECT_EQ(fs->log_syncs - before, 1);

  const int before_singles = fs->log_syncs;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(spool->Append(Put("/single/n" + std::to_string(i)).intent).ok());
  EXPECT_EQ(fs->log_syncs - before_singles, 20) << "the count is of real syncs";
}

}  // namespace
}  // namespace zkspool
