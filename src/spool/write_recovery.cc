#include "spool/write_recovery.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/listener.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/system_clock.h>

#include <limits>

namespace zkspool {
namespace {

class FullDiskOnlyRecovery : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "ZkspoolFullDiskOnlyRecovery"; }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status error, bool* auto_recovery) override {
    *auto_recovery = error.IsNoSpace();
  }
};

// For the SstFileManager alone: with any space free, a flush may succeed, so recovery may try.
class AnySpaceIsEnough : public rocksdb::FileSystemWrapper {
 public:
  explicit AnySpaceIsEnough(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "ZkspoolAnySpaceIsEnough"; }
  rocksdb::IOStatus GetFreeSpace(const std::string& path, const rocksdb::IOOptions& options, uint64_t* free,
                                 rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus s = target()->GetFreeSpace(path, options, free, debug);
    if (s.ok() && *free > 0) *free = std::numeric_limits<uint64_t>::max() / 2;
    return s;
  }
};

// The SstFileManager retries 5 s after each try, and times that wait as "its clock's now + 5 s" on
// a wall-clock condition variable; it uses its clock for nothing else here (no rate-limited
// deletes). A clock 4 s behind makes the retry come after 1 s: appends work again about a second
// after space returns instead of up to five.
class RetryEverySecondClock : public rocksdb::SystemClockWrapper {
 public:
  explicit RetryEverySecondClock(const std::shared_ptr<rocksdb::SystemClock>& base) : SystemClockWrapper(base) {}
  const char* Name() const override { return "ZkspoolRetryEverySecondClock"; }
  uint64_t NowMicros() override { return target_->NowMicros() - 4'000'000; }
};

// NewSstFileManager takes the clock from an Env and keeps nothing else of it.
class WithClock : public rocksdb::EnvWrapper {
 public:
  WithClock(rocksdb::Env* base, std::shared_ptr<rocksdb::SystemClock> clock) : EnvWrapper(base) {
    system_clock_ = std::move(clock);
  }
};

}  // namespace

void WriteRecovery::Configure(rocksdb::DBOptions& options) {
  options.listeners.push_back(std::make_shared<FullDiskOnlyRecovery>());
  WithClock env(options.env, std::make_shared<RetryEverySecondClock>(options.env->GetSystemClock()));
  options.sst_file_manager.reset(rocksdb::NewSstFileManager(
      &env, std::make_shared<AnySpaceIsEnough>(options.env->GetFileSystem()), options.info_log));
}

bool WriteRecovery::MayResume(rocksdb::DB& db) const {
  if (!error_->IsNoSpace()) return true;
  // Resuming flushes the memtables; with no space at all that only fails again.
  uint64_t free = 0;
  rocksdb::Status s = db.GetEnv()->GetFreeSpace(dir_, &free);
  return !s.ok() || free > 0;
}

rocksdb::Status WriteRecovery::Write(rocksdb::DB& db, const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch) {
  {
    std::lock_guard lock(mu_);
    // While RocksDB's own recovery runs, Resume answers "busy"; once it succeeded, "nothing to do".
    if (error_ && (!MayResume(db) || !db.Resume().ok())) return *error_;
  }
  rocksdb::Status s = db.Write(options, batch);
  std::lock_guard lock(mu_);
  if (!s.ok()) {
    if (!error_) error_ = s;
    return *error_;
  }
  if (error_) {
    log_->info("spool {}: writes work again after: {}", dir_, error_->ToString());
    error_.reset();
  }
  return s;
}

}  // namespace zkspool
