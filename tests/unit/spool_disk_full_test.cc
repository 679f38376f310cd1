// A full disk: Append fails with a clear error, nothing already spooled is lost, and once space
// returns the same Spool object appends again without a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "support/disk_full_fs.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

Intent Put(const std::string& path) {
  Intent intent;
  intent.path = path;
  intent.data = "data of " + path;
  return intent;
}

class SpoolDiskFullTest : public ::testing::TestWithParam<Durability> {
 protected:
  std::unique_ptr<Spool> OpenSpool() {
    SpoolOptions options;
    options.durability = GetParam();
    options.file_system = fs_;
    auto spool = Spool::Open(dir_.Sub("spool"), options);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(spool).value() : nullptr;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::DiskFullFs> fs_ = std::make_shared<testing::DiskFullFs>();
};

TEST_P(SpoolDiskFullTest, AppendFailsClearlyKeepsEverythingAndRecoversWithoutARestart) {
  auto spool = OpenSpool();
  ASSERT_NE(spool, nullptr);
  std::vector<uint64_t> kept;
  for (int i = 0; i < 20; ++i) {
    auto seq = spool->Append(Put("/before/n" + std::to_string(i)));
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    kept.push_back(*seq);
  }
  fs_->SetFull(true);
  for (int i = 0; i < 3; ++i) {
    auto refused = spool->Append(Put("/while-full/n" + std::to_string(i)));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kIOError);
    EXPECT_NE(refused.status().message().find("No space left on device"), std::string::npos)
        << refused.status().message();
  }
  EXPECT_GT(fs_->refused(), 0);
  auto pending = spool->ReadPending(0, 100);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_GE(pending->size(), kept.size());
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ((*pending)[i].seq, kept[i]);

  fs_->SetFull(false);
  // RocksDB's own recovery may still be retrying its flush; appends work again within seconds.
  const auto started = std::chrono::steady_clock::now();
  Result<uint64_t> after = spool->Append(Put("/after/n0"));
  while (!after.ok() && std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = spool->Append(Put("/after/n0"));
  }
  ASSERT_TRUE(after.ok()) << "no restart needed once space returns: " << after.status().ToString();
  std::printf("appends worked again %lld ms after space returned\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started)
                                         .count()));
  EXPECT_GT(*after, kept.back());
  kept.push_back(*after);

  spool.reset();
  auto reopened = OpenSpool();
  ASSERT_NE(reopened, nullptr);
  auto all = reopened->ReadPending(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<uint64_t> seqs;
  for (const SpooledIntent& r : *all) {
    seqs.push_back(r.seq);
    EXPECT_NE(r.intent.path.rfind("/while-full/", 0), 0u) << "a refused append must not surface later";
  }
  EXPECT_EQ(seqs, kept);
}

INSTANTIATE_TEST_SUITE_P(BothDurabilities, SpoolDiskFullTest,
                         ::testing::Values(Durability::kSync, Durability::kBuffered),
                         [](const auto& param_info) { return param_info.param == Durability::kSync ? "Sync" : "Buffered"; });

}  // namespace
}  // namespace zkspool
