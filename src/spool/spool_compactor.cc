// Removed intents leave tombstones at the head of the intents family and in the expiry index;
// compacting those ranges down to the bottommost level is what drops them (a default
// CompactRange keeps them). It runs on a thread of its own: a compaction takes tens of
// milliseconds to seconds, and neither a removal nor the reconciler should wait for it.
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include "spool/expiry_key.h"
#include "spool/sequence_key.h"
#include "spool/spool_impl.h"

namespace zkspool {

void Spool::Impl::StartCompactor() {
  compactor = std::thread([this] {
    std::unique_lock lock(compact_mu);
    for (;;) {
      compact_cv.wait(lock, [this] { return compact_requested || compactor_stopping; });
      if (compactor_stopping) return;
      compact_requested = false;
      lock.unlock();
      CompactRemoved();
      lock.lock();
      ++compactions;
    }
  });
}

void Spool::Impl::StopCompactor() {
  {
    std::lock_guard lock(compact_mu);
    compactor_stopping = true;
  }
  compact_cv.notify_one();
  if (compactor.joinable()) compactor.join();
}

void Spool::Impl::NoteRemoved(uint64_t removed) {
  std::lock_guard lock(compact_mu);
  removed_since_compaction += removed;
  if (removed_since_compaction < options.compact_after_removed) return;
  removed_since_compaction = 0;
  compact_requested = true;
  compact_cv.notify_one();
}

void Spool::Impl::CompactRemoved() {
  std::string first_pending, expiry_end;
  {
    std::lock_guard lock(mu);
    first_pending = SequenceKey(scan_floor);
    expiry_end = ExpiryLowerBound(std::max<int64_t>(expiry_floor, 0));
  }
  rocksdb::Slice lower(first_pending);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, intents));
  it->Seek(lower);
  // Up to the first pending intent, or everything once nothing is pending.
  std::string end_key = it->Valid() ? it->key().ToString() : SequenceKey(UINT64_MAX);
  it.reset();
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  rocksdb::Slice end(end_key);
  rocksdb::Status s = db->CompactRange(cro, intents, nullptr, &end);
  if (s.ok()) {
    rocksdb::Slice expiry_upper(expiry_end);
    s = db->CompactRange(cro, expiry, nullptr, &expiry_upper);
  }
  if (!s.ok()) log->warn("compaction of removed intents in spool {} failed: {}", dir, s.ToString());
}

}  // namespace zkspool
