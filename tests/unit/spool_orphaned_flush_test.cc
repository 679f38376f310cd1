// A full disk on a busy host: a flush is scheduled by the very append that then fails to write its
// log, and RocksDB's flush thread reaches that flush only after the failure. In RocksDB 7.8 the
// thread then returns without taking the flush off its queue, and nothing schedules it again: a
// DB::Resume afterwards waited for it forever, and every later append hung (write_recovery.h).
//
// The order is forced, not hoped for: RocksDB's flush threads are shared by every database in
// the process (one here), so a second spool whose flush blocks in its file system holds the
// thread until the first spool's append has failed.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "support/append_hook_fs.h"
#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

// Something to wait for, set from RocksDB's threads.
class Flag {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return set_; });
  }
  bool IsSet() {
    std::lock_guard lock(mu_);
    return set_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// Table files block in Append until Open(); entered() once one tried.
class GatedTablesFs : public testing::AppendHookFs {
 public:
  GatedTablesFs()
      : AppendHookFs([](const std::string& f) { return f.ends_with(".sst"); },
                     [this] {
                       entered_.Set();
                       open_.WaitFor(60s);
                       return IOStatus::OK();
                     }) {}
  const char* Name() const override { return "GatedTablesFs"; }
  Flag& entered() { return entered_; }
  void Open() { open_.Set(); }

 private:
  Flag entered_;
  Flag open_;
};

// While full, appends to the write-ahead log fail with ENOSPC and no space is free; creating
// files still works, so the append's memtable switch (which creates the next log) succeeds and
// schedules its flush before the write itself fails. Notes when a table file is created.
class FullLogFs : public testing::AppendHookFs {
 public:
  FullLogFs()
      : AppendHookFs([](const std::string& f) { return f.ends_with(".log"); },
                     [this] { return full_ ? IOStatus::NoSpace("test: No space left on device") : IOStatus::OK(); }) {}
  const char* Name() const override { return "FullLogFs"; }
  void SetFull(bool full) { full_ = full; }
  Flag& table_created() { return table_created_; }

  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                           std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) override {
    IOStatus s = AppendHookFs::NewWritableFile(f, o, r, d);
    if (s.ok() && f.ends_with(".sst")) table_created_.Set();
    return s;
  }
  IOStatus GetFreeSpace(const std::string& path, const IOOptions& o, uint64_t* free, IODebugContext* d) override {
    if (!full_) return target()->GetFreeSpace(path, o, free, d);
    *free = 0;
    return IOStatus::OK();
  }

 private:
  std::atomic<bool> full_{false};
  Flag table_created_;
};

// Sets `flag` when RocksDB reports a background flush that failed (in 7.8: one that found the
// database stopped and gave up its turn).
class FlushErrorSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FlushErrorSink(Flag* flag) : flag_(flag) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (std::string_view(msg.payload.data(), msg.payload.size()).find("after background flush error") !=
        std::string_view::npos) {
      flag_->Set();
    }
  }
  void flush_() override {}

 private:
  Flag* flag_;
};

Intent Put(const std::string& path, size_t bytes) {
  Intent intent;
  intent.path = path;
  intent.data.assign(bytes, 'd');
  return intent;
}

// An append that may hang: a test that hangs proves nothing, so it ends the process, failed.
Result<uint64_t> AppendOrDie(Spool& spool, const Intent& intent) {
  auto result = std::make_shared<std::promise<Result<uint64_t>>>();
  std::future<Result<uint64_t>> done = result->get_future();
  std::thread([&spool, intent, result] { result->set_value(spool.Append(intent)); }).detach();
  if (done.wait_for(60s) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: an append after the full disk hung for 60 s (an orphaned RocksDB flush)\n");
    std::_Exit(1);
  }
  return done.get();
}

TEST(SpoolOrphanedFlushTest, AppendsWorkAgainWhenTheFailedAppendsFlushRanLate) {
  testing::TempDir dir;
  const size_t big = kDefaultMaxDataBytes;

  auto gated = std::make_shared<GatedTablesFs>();
  SpoolOptions blocker_options;
  blocker_options.file_system = gated;
  auto blocker = Spool::Open(dir.Sub("blocker"), blocker_options);
  ASSERT_TRUE(blocker.ok()) << blocker.status().ToString();

  Flag flush_error;
  auto full = std::make_shared<FullLogFs>();
  SpoolOptions options;
  options.file_system = full;
  options.logger = std::make_shared<spdlog::logger>("orphaned-flush", std::make_shared<FlushErrorSink>(&flush_error));
  auto spool = Spool::Open(dir.Sub("spool"), options);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  ASSERT_EQ(rocksdb::Env::Default()->GetBackgroundThreads(rocksdb::Env::HIGH), 1)
      << "the order below needs the process's one flush thread";

  // 1. The blocker's flush takes the one flush thread and holds it. Four appends of 1 MiB switch
  // its 2 MiB memtable once; more would stop its writes until the flush is done.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE((*blocker)->Append(Put("/blocker/n" + std::to_string(i), big)).ok());
  }
  ASSERT_TRUE(gated->entered().WaitFor(30s)) << "the blocker's memtables never went to a flush";

  // 2. Fill the spool's memtable past its size, so that its next append switches memtables.
  std::vector<uint64_t> kept;
  for (int i = 0; i < 3; ++i) {
    auto seq = (*spool)->Append(Put("/spool/n" + std::to_string(i), big));
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    kept.push_back(*seq);
  }

  // 3. That append schedules the flush (queued behind the blocker's) and then fails to log.
  full->SetFull(true);
  auto refused = (*spool)->Append(Put("/spool/refused", 10));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("No space left on device"), std::string::npos)
      << refused.status().message();

  // 4. Only now does the flush thread reach the spool's flush: it either finds the database
  // recovering and writes a table, or (RocksDB's own Resume) finds it stopped and gives up.
  gated->Open();
  ASSERT_TRUE(full->table_created().WaitFor(30s) || flush_error.WaitFor(30s)) << "the spool's flush never ran";

  full->SetFull(false);
  const auto started = std::chrono::steady_clock::now();
  Result<uint64_t> after = AppendOrDie(**spool, Put("/spool/after", 10));
  while (!after.ok() && std::chrono::steady_clock::now() - started < 30s) {
    std::this_thread::sleep_for(50ms);
    after = AppendOrDie(**spool, Put("/spool/after", 10));
  }
  ASSERT_TRUE(after.ok()) << "appends still refused 30 s after space returned: " << after.status().ToString();
  kept.push_back(*after);

  auto pending = (*spool)->ReadPending(0, 100);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  std::vector<uint64_t> seqs;
  for (const SpooledIntent& r : *pending) seqs.push_back(r.seq);
  EXPECT_EQ(seqs, kept) << "what was acknowledged is all there, and the refused append is not";
}

}  // namespace
}  // namespace zkspool
