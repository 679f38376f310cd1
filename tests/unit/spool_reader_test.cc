// SpoolReader (the read-only secondary view) and the operator-facing additions to Spool:
// RemovePending and create_if_missing = false.
#include "zkspool/spool_reader.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <spdlog/logger.h>

#include <filesystem>
#include <fstream>

#include "spool/record_codec.h"
#include "spool/sequence_key.h"
#include "support/raw_spool.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using testing::RawPut;

using testing::TempDir;

Intent Put(std::string path, std::string data) {
  Intent i;
  i.path = std::move(path);
  i.data = std::move(data);
  return i;
}

class SpoolReaderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool() {
    SpoolOptions o;
    o.logger = std::make_shared<spdlog::logger>("quiet");
    auto spool = Spool::Open(dir_.Sub("spool"), o);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }
  std::unique_ptr<SpoolReader> OpenReader() {
    auto reader = SpoolReader::Open(dir_.Sub("spool"));
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? std::move(reader).value() : nullptr;
  }
  TempDir dir_;
};

TEST_F(SpoolReaderTest, SeesWhatTheLiveOwnerWrote) {
  auto spool = OpenSpool();
  uint64_t a = *spool->Append(Put("/a", "1"));
  uint64_t b = *spool->Append(Put("/b", "2"));
  uint64_t c = *spool->Append(Put("/c", "3"));
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{a}).ok());
  ASSERT_TRUE(spool->MarkFailed(std::vector<uint64_t>{b}, "ZNOAUTH").ok());
  ASSERT_TRUE(spool->SaveSession({42, std::string(16, 's')}).ok());

  auto reader = OpenReader();  // beside the owner, which keeps its lock
  ASSERT_TRUE(reader);
  auto pending = reader->ReadPending(0, 10);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, *spool->ReadPending(0, 10));
  EXPECT_EQ(*reader->ReadRegistered("", 10), *spool->ReadRegistered("", 10));
  auto failed = reader->ReadFailed(0, 10);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ(failed->front().reason, "ZNOAUTH");
  EXPECT_EQ(**reader->SessionId(), 42);
  EXPECT_EQ(*reader->OwnedSessions(), std::vector<int64_t>{42});
  auto stats = reader->Stats(pending->front().intent.enqueued_at_ms + 1500);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending_count, 1u);
  EXPECT_EQ(stats->pending_bytes, spool->Stats()->pending_bytes);
  EXPECT_EQ(stats->registered_count, 1u);
  EXPECT_EQ(stats->failed_count, 1u);
  EXPECT_EQ(stats->next_sequence, c + 1);
  EXPECT_EQ(stats->oldest_pending_age, std::chrono::milliseconds(1500));
  EXPECT_GT(reader->DiskBytes(), 0u);

  uint64_t d = *spool->Append(Put("/d", "4"));
  ASSERT_TRUE(reader->CatchUp().ok());
  EXPECT_EQ(reader->ReadPending(0, 10)->back().seq, d);
}

TEST_F(SpoolReaderTest, RefusesWhatIsNotAReadableSpool) {
  EXPECT_EQ(SpoolReader::Open(dir_.Sub("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("missing")));
  std::filesystem::create_directory(dir_.Sub("other"));
  std::ofstream(dir_.Sub("other") + "/notes.txt") << "x";
  auto other = SpoolReader::Open(dir_.Sub("other"));
  EXPECT_EQ(other.status().code(), StatusCode::kNotASpool);
  EXPECT_NE(other.status().message().find("is not a spool"), std::string::npos);

  OpenSpool().reset();
  std::string three(8, '\0');
  three[0] = 3;
  RawPut(dir_.Sub("spool"), kMetaIndex, "format_version", three);
  EXPECT_EQ(SpoolReader::Open(dir_.Sub("spool")).status().code(), StatusCode::kNewerFormat);
}

TEST_F(SpoolReaderTest, VerifyNamesEachDamagedRecord) {
  {
    auto spool = OpenSpool();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool->Append(Put("/p" + std::to_string(i), "x")).ok());
    ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{1}).ok());
  }
  {
    auto reader = OpenReader();
    std::vector<VerifyProblem> problems;
    auto report = reader->Verify([&](const VerifyProblem& p) { problems.push_back(p); });
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->problems, 0u);
    EXPECT_GE(report->records_checked, 5u);  // 4 pending, 1 registered, meta
  }
  std::string record = EncodeRecord({3, Put("/p2", "x")});
  record[record.size() - 1] ^= 0x01;  // the CRC no longer matches
  RawPut(dir_.Sub("spool"), kIntentsIndex, SequenceKey(3), record);
  RawPut(dir_.Sub("spool"), kRegisteredIndex, "/p0", "garbage");
  auto reader = OpenReader();
  std::vector<VerifyProblem> problems;
  auto report = reader->Verify([&](const VerifyProblem& p) { problems.push_back(p); });
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].family, "intents");
  EXPECT_EQ(problems[0].key, "3");
  EXPECT_NE(problems[0].message.find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(problems[1].family, "registered");
  EXPECT_EQ(problems[1].key, "/p0");
}

TEST_F(SpoolReaderTest, RemovePendingLeavesTheRegisteredSetAndNeverReusesSeqs) {
  auto spool = OpenSpool();
  uint64_t a = *spool->Append(Put("/a", "1"));
  ASSERT_TRUE(spool->MarkApplied(std::vector<uint64_t>{a}).ok());
  uint64_t b = *spool->Append(Put("/a", "2"));
  uint64_t c = *spool->Append(Put("/c", "3"));
  EXPECT_EQ(spool->RemovePending(std::vector<uint64_t>{c, 999}).status().code(), StatusCode::kNotFound);
  auto removed = spool->RemovePending(std::vector<uint64_t>{c, b});
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ(removed->front().seq, b);  // sequence order
  EXPECT_TRUE(spool->ReadPending(0, 10)->empty());
  EXPECT_EQ(spool->GetRegistered("/a")->intent.data, "1");
  EXPECT_EQ(spool->Stats()->pending_count, 0u);
  spool.reset();
  spool = OpenSpool();
  EXPECT_EQ(*spool->Append(Put("/d", "4")), c + 1);
}

TEST_F(SpoolReaderTest, OpenWithoutCreateRefusesMissingAndForeignDirectories) {
  SpoolOptions o;
  o.create_if_missing = false;
  EXPECT_EQ(Spool::Open(dir_.Sub("missing"), o).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("missing")));
  std::filesystem::create_directory(dir_.Sub("empty"));
  EXPECT_EQ(Spool::Open(dir_.Sub("empty"), o).status().code(), StatusCode::kNotASpool);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("empty")));
}

}  // namespace
}  // namespace zkspool
