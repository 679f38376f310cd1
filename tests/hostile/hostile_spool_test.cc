// Hostile input for the spool itself (issue 14): damaged files of every kind, foreign
// directories and a full disk. Damage anywhere but a torn tail after the last acknowledged sync
// must fail Open with kCorruption naming the file, never read as an emptier spool.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "damage.h"
#include "support/disk_full_fs.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"
#include "zkspool/spool_reader.h"

namespace zkspool {
namespace {

namespace fs = std::filesystem;
using testing::Basename;

constexpr int kIntents = 200;

bool IsNotASpool(const Status& s) { return std::string(StatusCodeName(s.code())) == "not a spool"; }

class HostileSpoolTest : public ::testing::Test {
 protected:
  // Open's status; on success also how many intents it found pending.
  Status OpenStatus(uint64_t* pending = nullptr) {
    auto spool = Spool::Open(spool_);
    if (spool.ok() && pending) *pending = (*spool)->Stats()->pending_count;
    return spool.status();
  }
  // Expects Open and SpoolReader::Open to fail with kCorruption naming `file`.
  void ExpectCorruptionNaming(const std::string& file) {
    ExpectOpenFailsNaming(file);
    auto reader = SpoolReader::Open(spool_);
    EXPECT_EQ(reader.status().code(), StatusCode::kCorruption) << reader.status().ToString();
  }
  void ExpectOpenFailsNaming(const std::string& file) {
    uint64_t pending = 0;
    Status open = OpenStatus(&pending);
    EXPECT_EQ(open.code(), StatusCode::kCorruption)
        << open.ToString() << (open.ok() ? " (opened with " + std::to_string(pending) + " pending)" : "");
    EXPECT_NE(open.message().find(file), std::string::npos) << "should name " << file << ": " << open.message();
  }

  testing::TempDir dir_;
  const std::string spool_ = dir_.Sub("spool");
};

TEST_F(HostileSpoolTest, Defect1_ZeroedLogHeadFailsOpenNamingTheLog) {
  testing::MakeSpool(spool_, kIntents);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  testing::ZeroBytes(log, 0, 1024);  // what some file systems leave of a block after a crash
  ExpectCorruptionNaming(Basename(log));
}

TEST_F(HostileSpoolTest, Defect1_GarbageAtTheLogHeadFailsOpen) {
  testing::MakeSpool(spool_, kIntents);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  std::mt19937 rng(14);
  std::string garbage(100, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  testing::OverwriteBytes(log, 0, garbage);
  ExpectCorruptionNaming(Basename(log));
}

TEST_F(HostileSpoolTest, ZeroedBlocksAtTheHeadOfALongLogFailOpen) {
  testing::MakeSpool(spool_, 2000);  // about 200 KiB of log: several of its 32 KiB blocks
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  ASSERT_GT(testing::FileSize(log), 4u * 32768);
  testing::ZeroBytes(log, 0, 40 * 1024);  // the first block and part of the second
  ExpectCorruptionNaming(Basename(log));
}

TEST_F(HostileSpoolTest, DamageInTheMiddleOfTheLogFailsOpenNamingTheLog) {
  testing::MakeSpool(spool_, kIntents);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  testing::ZeroBytes(log, testing::FileSize(log) / 2, 300);
  ExpectCorruptionNaming(Basename(log));
}

TEST_F(HostileSpoolTest, DamagedTailOfAcknowledgedRecordsFailsOpen) {
  testing::MakeSpool(spool_, kIntents);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  // The last records were acknowledged (and recorded as such at close): not a torn tail.
  testing::ZeroBytes(log, testing::FileSize(log) - 200, 200);
  ExpectCorruptionNaming(Basename(log));
}

TEST_F(HostileSpoolTest, TornTailOfAWriteNeverAcknowledgedIsTolerated) {
  testing::MakeSpool(spool_, kIntents);
  const std::string log = testing::OnlyLog(spool_);
  ASSERT_FALSE(log.empty());
  // A record header promising 100 bytes, and 10 of them: a write a crash cut short.
  testing::Append(log, std::string("\x12\x34\x56\x78\x64\x00\x01", 7) + std::string(10, 'x'));
  uint64_t pending = 0;
  Status open = OpenStatus(&pending);
  ASSERT_TRUE(open.ok()) << open.ToString();
  EXPECT_EQ(pending, static_cast<uint64_t>(kIntents));
}

TEST_F(HostileSpoolTest, Defect2_ManifestThatLostItsLastRecordsFailsOpen) {
  testing::MakeSpoolWithAGrownManifest(spool_);
  const std::string manifest = testing::CurrentManifest(spool_);
  // Two thirds: its first snapshot survives, the edits after it (the tables that hold the
  // failed set and the session) are lost.
  testing::Truncate(manifest, testing::FileSize(manifest) * 2 / 3);
  uint64_t pending = 0;
  Status open = OpenStatus(&pending);
  EXPECT_EQ(open.code(), StatusCode::kCorruption) << open.ToString();
  EXPECT_NE(open.message().find("MANIFEST"), std::string::npos) << open.message();
}

TEST_F(HostileSpoolTest, ZeroedManifestTailFailsOpenNamingIt) {
  testing::MakeSpoolWithAGrownManifest(spool_);
  const std::string manifest = testing::CurrentManifest(spool_);
  testing::ZeroBytes(manifest, testing::FileSize(manifest) - 40, 40);
  ExpectCorruptionNaming(Basename(manifest));
}

TEST_F(HostileSpoolTest, CurrentNamingAMissingManifestIsCorruption) {
  testing::MakeSpool(spool_, 10);
  std::ofstream(spool_ + "/CURRENT", std::ios::trunc) << "MANIFEST-000999\n";
  ExpectCorruptionNaming("CURRENT");
}

TEST_F(HostileSpoolTest, LostCurrentIsCorruptionNotANewEmptySpool) {
  testing::MakeSpool(spool_, 10);
  const std::string manifest = testing::CurrentManifest(spool_);
  const std::string log = testing::OnlyLog(spool_);
  fs::remove(spool_ + "/CURRENT");
  ExpectCorruptionNaming("CURRENT");
  EXPECT_TRUE(fs::exists(manifest) && fs::exists(log)) << "the old database must be left as it was";
  EXPECT_FALSE(fs::exists(spool_ + "/CURRENT")) << "no new database may be started over it";
}

TEST_F(HostileSpoolTest, LostHighwaterIsCorruption) {
  testing::MakeSpool(spool_, 10);
  fs::remove(spool_ + "/HIGHWATER");
  ExpectCorruptionNaming("HIGHWATER");
}

// Everything RocksDB wrote removed, our ZKSPOOL (marked "created") and HIGHWATER left: the
// first version of the directory check took this for a spool whose creation never finished and
// created an empty database, losing every acknowledged intent without a word.
TEST_F(HostileSpoolTest, WipedDatabaseIsCorruptionNotANewEmptySpool) {
  testing::MakeSpool(spool_, 10);
  testing::WipeDatabase(spool_);
  Status open = OpenStatus();
  EXPECT_EQ(open.code(), StatusCode::kCorruption) << open.ToString();
  EXPECT_NE(open.message().find("is gone"), std::string::npos) << open.message();
  EXPECT_FALSE(fs::exists(spool_ + "/CURRENT")) << "no new database may be started in its place";
  auto reader = SpoolReader::Open(spool_);
  EXPECT_EQ(reader.status().code(), StatusCode::kCorruption) << reader.status().ToString();
}

// Something other than a regular file in place of one of the spool's files: a FIFO would hang
// the read of it, /dev/zero exhaust memory, a link make us overwrite its target. Each is refused
// at once, naming the file, and nothing is written anywhere.
TEST_F(HostileSpoolTest, SpecialFilesInTheSpoolDirectoryAreRefused) {
  testing::MakeSpool(spool_, 10);
  const std::string victim = dir_.Sub("victim");
  std::ofstream(victim) << "not yours\n";
  struct Plant {
    std::string name;
    std::function<void(const std::string&)> make;
    std::string kind;
  };
  const std::vector<Plant> plants = {
      {"HIGHWATER", [](const std::string& p) { ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0); }, "a FIFO"},
      {"OWNER", [](const std::string& p) { ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0); }, "a FIFO"},
      {"ZKSPOOL", [](const std::string& p) { fs::create_symlink("/dev/zero", p); }, "a symbolic link"},
      {"OWNER", [&](const std::string& p) { fs::create_symlink(victim, p); }, "a symbolic link"},
      {"CURRENT", [](const std::string& p) { fs::create_symlink("/dev/zero", p); }, "a symbolic link"},
      {"extra", [](const std::string& p) { fs::create_directory(p); }, "a directory"},
  };
  for (const Plant& plant : plants) {
    SCOPED_TRACE(plant.name + " as " + plant.kind);
    const std::string path = spool_ + "/" + plant.name;
    const std::string saved = dir_.Sub("saved");
    const bool existed = fs::exists(fs::symlink_status(path));
    if (existed) fs::rename(path, saved);
    plant.make(path);
    Status open = OpenStatus();
    EXPECT_EQ(open.code(), StatusCode::kCorruption) << open.ToString();
    EXPECT_NE(open.message().find(plant.name + ", which is " + plant.kind), std::string::npos) << open.message();
    auto reader = SpoolReader::Open(spool_);
    EXPECT_EQ(reader.status().code(), StatusCode::kCorruption) << reader.status().ToString();
    fs::remove(path);
    if (existed) fs::rename(saved, path);
  }
  std::ifstream in(victim);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "not yours");
  uint64_t pending = 0;
  ASSERT_TRUE(OpenStatus(&pending).ok());
  EXPECT_EQ(pending, 10u) << "what was spooled is all there once the plants are gone";
}

TEST_F(HostileSpoolTest, OversizedSmallFileIsRefusedUnread) {
  testing::MakeSpool(spool_, 10);
  std::ofstream(spool_ + "/OWNER", std::ios::trunc) << std::string(1 << 20, 'x');
  Status open = OpenStatus();
  EXPECT_EQ(open.code(), StatusCode::kCorruption) << open.ToString();
  EXPECT_NE(open.message().find("OWNER has 1048576 bytes"), std::string::npos) << open.message();
}

TEST_F(HostileSpoolTest, DamagedTableFileFailsOpenNamingIt) {
  testing::MakeSpool(spool_, kIntents);
  ASSERT_TRUE(OpenStatus().ok());  // the reopen flushes the log into a table file
  std::string table;  // the largest: the intents' data blocks
  for (const auto& entry : fs::directory_iterator(spool_)) {
    if (entry.path().extension() == ".sst" && (table.empty() || entry.file_size() > fs::file_size(table))) {
      table = entry.path().string();
    }
  }
  ASSERT_FALSE(table.empty());
  testing::OverwriteBytes(table, testing::FileSize(table) / 3, "\xff\xff\xff\xff");
  ExpectOpenFailsNaming(Basename(table));
  // The reader checks table blocks in Verify (zkspoolctl verify), not at every open.
  auto reader = SpoolReader::Open(spool_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::string problems;
  auto report = (*reader)->Verify([&](const VerifyProblem& p) { problems += p.message + "; "; });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->problems, 0u);
  EXPECT_NE(problems.find(Basename(table)), std::string::npos) << problems;
}

// A RocksDB database another program keeps, with a column family of its own.
void MakeForeignDatabase(const std::string& dir) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}, {"data", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, families, &handles, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], "key", "value").ok());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

std::vector<std::string> Families(const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  return names;
}

TEST_F(HostileSpoolTest, Defect3_AnotherProgramsRocksDbIsNotASpoolAndStaysUntouched) {
  MakeForeignDatabase(spool_);
  const std::vector<std::string> before = Families(spool_);
  Status open = OpenStatus();
  EXPECT_TRUE(IsNotASpool(open)) << open.ToString();
  EXPECT_EQ(Families(spool_), before) << "no column family may be added to it";
  EXPECT_FALSE(fs::exists(spool_ + "/ZKSPOOL"));
  EXPECT_TRUE(IsNotASpool(SpoolReader::Open(spool_).status())) << SpoolReader::Open(spool_).status().ToString();
}

TEST_F(HostileSpoolTest, OurMarkerOnAForeignDatabaseIsStillNotASpool) {
  MakeForeignDatabase(spool_);
  std::ofstream(spool_ + "/ZKSPOOL") << "zkspool spool directory; see zkspoolctl\n";
  const std::vector<std::string> before = Families(spool_);
  Status open = OpenStatus();
  EXPECT_TRUE(IsNotASpool(open)) << open.ToString();
  EXPECT_NE(open.message().find("column families"), std::string::npos) << open.message();
  EXPECT_EQ(Families(spool_), before);
}

TEST_F(HostileSpoolTest, Defect8_AppendsWorkAgainAsSoonAsSomeSpaceReturns) {
  auto disk = std::make_shared<testing::DiskFullFs>();
  // Space comes back, but less than RocksDB's own recovery waits for (its largest memtable).
  disk->SetFreeBytesWhenNotFull(1 << 20);
  SpoolOptions options;
  options.file_system = disk;
  auto spool = Spool::Open(spool_, options);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  Intent intent;
  intent.path = "/hostile/full";
  ASSERT_TRUE((*spool)->Append(intent).ok());
  disk->SetFull(true);
  auto refused = (*spool)->Append(intent);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("No space left on device"), std::string::npos) << refused.status().message();
  disk->SetFull(false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Result<uint64_t> again = (*spool)->Append(intent);
  while (!again.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    again = (*spool)->Append(intent);
  }
  EXPECT_TRUE(again.ok()) << "still refused after space returned: " << again.status().ToString();
}

}  // namespace
}  // namespace zkspool
