// Flipped bytes in a spool's files: Open fails with a clear corruption error naming the damage,
// never crashes and never skips what it cannot read. Both places an intent lives are damaged in
// turn: the write-ahead log (fresh appends) and a table file (after the log was flushed).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

namespace fs = std::filesystem;

constexpr int kIntents = 200;

// Incompressible data, so that its bytes appear as they are in a compressed table file too.
std::string Payload(int i) {
  std::mt19937_64 rng(static_cast<uint64_t>(i) + 1);
  std::string hex;
  for (int k = 0; k < 64; ++k) hex += "0123456789abcdef"[rng() % 16];
  return hex;
}

Intent Put(int i) {
  Intent intent;
  intent.path = "/corrupt/n" + std::to_string(i);
  intent.data = Payload(i);
  return intent;
}

void Fill(const std::string& dir) {
  auto spool = Spool::Open(dir);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  for (int i = 0; i < kIntents; ++i) ASSERT_TRUE((*spool)->Append(Put(i)).ok());
}

// As Fill, in a child that then dies without closing the spool (a clean close flushes the log
// into a table file): the intents live only in the write-ahead log.
void FillAndCrash(const std::string& dir) {
  pid_t child = ::fork();
  if (child == 0) {
    auto spool = Spool::Open(dir);
    for (int i = 0; spool.ok() && i < kIntents; ++i) {
      if (!(*spool)->Append(Put(i)).ok()) std::_Exit(1);
    }
    std::_Exit(spool.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Flips one byte inside the encoded data of intent `i` in the first file with `extension`
// that holds it. Returns the file, or "" if none does.
std::string FlipInsideRecord(const std::string& dir, const std::string& extension, int i) {
  const std::string needle = Payload(i).substr(0, 24);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != extension) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t at = bytes.find(needle);
    if (at == std::string::npos) continue;
    std::fstream out(entry.path(), std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(at + 3));
    out.put(static_cast<char>(bytes[at + 3] ^ 0x20));
    return entry.path().filename().string();
  }
  return "";
}

TEST(SpoolCorruptionTest, ADamagedLogRecordFailsOpenInsteadOfDroppingWhatFollows) {
  testing::TempDir dir;
  const std::string spool_dir = dir.Sub("spool");
  FillAndCrash(spool_dir);
  // Intent 50 of 200: point-in-time recovery would keep 49 and drop 150 acknowledged intents.
  const std::string file = FlipInsideRecord(spool_dir, ".log", 50);
  ASSERT_FALSE(file.empty()) << "the intents should still be in the write-ahead log";
  auto reopened = Spool::Open(spool_dir);
  ASSERT_FALSE(reopened.ok()) << "opened with a damaged log: "
                              << (reopened.ok() ? std::to_string((*reopened)->Stats()->pending_count) : "");
  EXPECT_EQ(reopened.status().code(), StatusCode::kCorruption) << reopened.status().ToString();
  EXPECT_NE(reopened.status().message().find(spool_dir), std::string::npos) << reopened.status().message();
}

TEST(SpoolCorruptionTest, ADamagedTableFileFailsOpenWithACorruptionError) {
  testing::TempDir dir;
  const std::string spool_dir = dir.Sub("spool");
  Fill(spool_dir);
  // A clean close flushed the log into a table file.
  const std::string file = FlipInsideRecord(spool_dir, ".sst", 120);
  ASSERT_FALSE(file.empty()) << "the intents should be in a table file by now";
  auto reopened = Spool::Open(spool_dir);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kCorruption) << reopened.status().ToString();
  EXPECT_NE(reopened.status().message().find(file), std::string::npos)
      << "the message should name the damaged file: " << reopened.status().message();
}

}  // namespace
}  // namespace zkspool
