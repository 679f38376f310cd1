// The state behind a Spool, shared by the files that implement it: spool.cc (open, append,
// reads, session), spool_removal.cc (applied, failed, expired and purged intents) and
// spool_compactor.cc (dropping the tombstones removals leave).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "spool/highwater.h"
#include "spool/spool_integrity.h"
#include "spool/write_recovery.h"
#include "zkspool/spool.h"

namespace spdlog {
class logger;
}

namespace zkspool {

struct Spool::Impl {
  std::string dir;
  SpoolOptions options;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<rocksdb::Env> env;  // wraps options.file_system (see private_file_system.h); outlives db
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* intents = nullptr;
  rocksdb::ColumnFamilyHandle* registered = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* failed = nullptr;
  rocksdb::ColumnFamilyHandle* expiry = nullptr;
  rocksdb::WriteOptions write_options;

  static constexpr int64_t kNoExpiry = std::numeric_limits<int64_t>::max();

  // Guards the counters and sets below. Never held across a RocksDB call.
  mutable std::mutex mu;
  uint64_t next_seq = 1;
  std::set<uint64_t> in_flight;  // sequence numbers handed out whose write has not returned
  uint64_t pending_count = 0;
  uint64_t pending_bytes = 0;
  uint64_t registered_count = 0;
  uint64_t expired_count = 0;
  uint64_t failed_count = 0;
  mutable uint64_t scan_floor = 0;  // no pending intent has a lower sequence number
  // The expiry index below this holds nothing but tombstones, so ReadDue starts here.
  mutable int64_t expiry_floor = 0;
  // Expiry times of TTL appends whose write has not returned (a scan may miss them), and the
  // earliest expiry appended since the last ReadDue began (a clock that stepped back can put one
  // below the floor): neither the floor nor the next-expiry hint may pass these.
  std::multiset<int64_t> expiry_in_flight;
  mutable int64_t appended_expiry_min = kNoExpiry;
  // No pending intent expires before this (it may be earlier than the truth, never later).
  mutable int64_t next_expiry_hint = kNoExpiry;
  uint64_t acknowledged = 0;  // the highest sequence number an append returned for

  // Records `acknowledged` in HIGHWATER (highwater.h); started once Open has checked the spool
  // (CheckRecoveryAndKeepHighwater), stopped before the database closes.
  std::unique_ptr<HighwaterKeeper> highwater;
  Status CheckRecoveryAndKeepHighwater(const OpenEvidence& evidence);

  // Serializes the read-modify-write operations (removals, SaveSession) so that the sequence
  // floor they persist only grows and each registered path is counted once.
  std::mutex removal_mu;

  // Every write goes through here: see write_recovery.h.
  std::unique_ptr<WriteRecovery> writes;
  rocksdb::Status Write(const rocksdb::WriteOptions& write, rocksdb::WriteBatch* batch);

  // Compaction of removed ranges runs on its own thread, so no removal (and no reconciler)
  // waits for it. Started by Open, stopped before the database closes.
  std::mutex compact_mu;
  std::condition_variable compact_cv;
  uint64_t removed_since_compaction = 0;
  uint64_t compactions = 0;
  bool compact_requested = false;
  bool compactor_stopping = false;
  std::thread compactor;
  void StartCompactor();
  void StopCompactor();
  void CompactRemoved();

  ~Impl();

  int64_t Now() const { return options.clock_ms(); }

  // Below this, every sequence number was handed out and its write has returned.
  uint64_t SettledBelowLocked() const { return in_flight.empty() ? next_seq : *in_flight.begin(); }

  Status Get(rocksdb::ColumnFamilyHandle* family, std::string_view key, std::string& value, bool& found) const;

  Status Load();
  Result<uint64_t> AppendEntries(std::span<BatchEntry> entries, bool batch);
  Status ReadCounters();
  // A format-1 spool has no counters and no expiry index: built once by one walk, in one write.
  Status MigrateFromFormat1();

  struct Removal {
    uint64_t count = 0;
    uint64_t bytes = 0;
    int64_t registered_delta = 0;
    uint64_t expired = 0;
    uint64_t failed = 0;
    bool sync = false;  // an operator's removal must not come back after a power cut
  };
  Status WriteRemoval(rocksdb::WriteBatch& batch, const Removal& removal);
  // The pending records `seqs` (in sequence order, each once), their encoded values, and a
  // batch that deletes them and their expiry index entries. Call with removal_mu held.
  struct Collected {
    bool keep_records = true;  // false: only the batch and the counts (records, values stay empty)
    rocksdb::WriteBatch batch;
    std::vector<SpooledIntent> records;
    std::vector<std::string> values;
    Removal removal;
  };
  Status CollectPending(std::span<const uint64_t> seqs, Collected& out);
  // Adds to `batch` what makes each path registered as its node (a put) or not registered
  // (none), and counts it in `removal`. The paths must be distinct. Call with removal_mu held.
  Status SetRegistered(std::span<const AppliedPath> applied, rocksdb::WriteBatch& batch, Removal& removal);
  void NoteRemoved(uint64_t removed);
};

}  // namespace zkspool
