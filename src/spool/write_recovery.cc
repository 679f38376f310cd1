#include "spool/write_recovery.h"

#include <rocksdb/env.h>

namespace zkspool {
namespace {

class ManualRecoveryListener : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "ZkspoolManualRecovery"; }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

}  // namespace

std::shared_ptr<rocksdb::EventListener> WriteRecovery::ManualRecovery() {
  return std::make_shared<ManualRecoveryListener>();
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
