#include "zkspool/spool.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "log.h"
#include "spool/highwater.h"
#include "spool/meta_codec.h"
#include "spool/private_file_system.h"
#include "spool/record_codec.h"
#include "spool/rocks_logger.h"
#include "spool/sequence_key.h"
#include "spool/spool_directory.h"
#include "spool/spool_integrity.h"
#include "spool/spool_schema.h"
#include "spool/write_recovery.h"

namespace zkspool {
namespace {

constexpr size_t kMaxOwnedSessions = 64;

int64_t SystemClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

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
  rocksdb::WriteOptions write_options;

  mutable std::mutex mu;  // guards the counters and sets below
  uint64_t next_seq = 1;
  std::set<uint64_t> in_flight;  // sequence numbers handed out whose write has not returned
  uint64_t pending_count = 0;
  uint64_t pending_bytes = 0;
  uint64_t registered_count = 0;
  uint64_t expired_count = 0;
  uint64_t failed_count = 0;
  mutable uint64_t scan_floor = 0;  // no pending intent has a lower sequence number
  uint64_t acknowledged = 0;        // the highest sequence number an append returned for

  // Records `acknowledged` in HIGHWATER (highwater.h); started once Open has checked the spool
  // (CheckRecoveryAndKeepHighwater), stopped before the database closes.
  std::unique_ptr<HighwaterKeeper> highwater;
  Status CheckRecoveryAndKeepHighwater(const OpenEvidence& evidence);

  // Serializes the read-modify-write operations (MarkApplied, Expire, SaveSession) so that the
  // sequence floor and counters they persist only grow.
  std::mutex removal_mu;
  uint64_t removed_since_compaction = 0;

  // Every write goes through here: see write_recovery.h.
  std::unique_ptr<WriteRecovery> writes;
  rocksdb::Status Write(const rocksdb::WriteOptions& write, rocksdb::WriteBatch* batch) {
    return writes->Write(*db, write, batch);
  }

  ~Impl() {
    if (!db) return;
    if (highwater) {
      if (Status s = highwater->Stop(); !s.ok()) log->warn("spool {}: {}", dir, s.message());
    }
    for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
    db->Close().PermitUncheckedError();
    db.reset();
  }

  int64_t Now() const { return options.clock_ms(); }

  // Below this, every sequence number was handed out and its write has returned.
  uint64_t SettledBelowLocked() const { return in_flight.empty() ? next_seq : *in_flight.begin(); }

  Status Get(rocksdb::ColumnFamilyHandle* family, std::string_view key, std::string& value, bool& found) const {
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), family, key, &value);
    found = s.ok();
    if (s.ok() || s.IsNotFound()) return Status::Ok();
    return FromRocks(s, "read from spool " + dir);
  }

  Status Load();
  Result<uint64_t> AppendEntries(std::span<BatchEntry> entries, bool batch);
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
  // batch that deletes them. Call with removal_mu held.
  struct Collected {
    rocksdb::WriteBatch batch;
    std::vector<SpooledIntent> records;
    std::vector<std::string> values;
    Removal removal;
  };
  Status CollectPending(std::span<const uint64_t> seqs, Collected& out);
  void MaybeCompactRemoved(uint64_t removed);
};

Status Spool::Impl::Load() {
  std::string value;
  bool found;
  if (Status s = Get(meta, kMetaFormatVersion, value, found); !s.ok()) return s;
  if (found) {
    if (Status s = CheckFormatVersion(value, dir); !s.ok()) return s;
  } else {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    rocksdb::Status s = db->Put(sync, meta, kMetaFormatVersion, EncodeU64(kSpoolFormatVersion));
    if (!s.ok()) return FromRocks(s, "initialize spool " + dir);
  }
  uint64_t floor = 1;
  if (Status s = Get(meta, kMetaSequenceFloor, value, found); !s.ok()) return s;
  if (found) {
    Result<uint64_t> v = DecodeU64(value, kMetaSequenceFloor);
    if (!v.ok()) return v.status();
    floor = std::max<uint64_t>(*v, 1);
  }
  if (Status s = Get(meta, kMetaExpiredCount, value, found); !s.ok()) return s;
  if (found) {
    Result<uint64_t> v = DecodeU64(value, kMetaExpiredCount);
    if (!v.ok()) return v.status();
    expired_count = *v;
  }

  std::optional<uint64_t> first, last;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), intents));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<uint64_t> seq = ParseSequenceKey(it->key().ToStringView());
    if (!seq) return Status::Corruption("spool " + dir + " has an intent key that is not a sequence number");
    if (!first) first = seq;
    last = seq;
    ++pending_count;
    pending_bytes += it->value().size();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan intents of spool " + dir);
  next_seq = std::max(floor, last ? *last + 1 : 1);
  scan_floor = first.value_or(next_seq);

  std::unique_ptr<rocksdb::Iterator> reg(db->NewIterator(rocksdb::ReadOptions(), registered));
  for (reg->SeekToFirst(); reg->Valid(); reg->Next()) ++registered_count;
  if (!reg->status().ok()) return FromRocks(reg->status(), "scan registered set of spool " + dir);
  std::unique_ptr<rocksdb::Iterator> parked(db->NewIterator(rocksdb::ReadOptions(), failed));
  for (parked->SeekToFirst(); parked->Valid(); parked->Next()) ++failed_count;
  return FromRocks(parked->status(), "scan failed set of spool " + dir);
}

Status Spool::Impl::CheckRecoveryAndKeepHighwater(const OpenEvidence& evidence) {
  Result<uint64_t> recovered = RecoveredSequence(*db, intents, meta, failed);
  if (!recovered.ok()) return recovered.status();
  if (Status s = CheckRecovered(*env, dir, evidence, *recovered); !s.ok()) return s;
  // Every table block once, so that damage in a table file fails Open rather than a later read.
  if (rocksdb::Status s = db->VerifyChecksum(); !s.ok()) return FromRocks(s, "verify the table files of spool " + dir);
  acknowledged = *recovered;
  rocksdb::FileSystem& fs = *env->GetFileSystem();
  const bool buffered = options.durability == Durability::kBuffered;
  auto collect = [this, buffered]() -> Result<Highwater> {
    uint64_t upto;
    {
      std::lock_guard lock(mu);
      upto = acknowledged;
    }
    // A buffered append is acknowledged before it is synced: sync first, claim only what is
    // durable. Through the write path, which refuses while RocksDB is stopped by an error
    // (DB::SyncWAL on a log that failed a write trips an assertion in RocksDB 7.8).
    if (buffered) {
      rocksdb::WriteBatch sync_only;
      sync_only.PutLogData("highwater");
      rocksdb::WriteOptions sync;
      sync.sync = true;
      if (rocksdb::Status s = Write(sync, &sync_only); !s.ok()) return FromRocks(s, "sync the log of spool " + dir);
    }
    return CurrentHighwater(*db, upto);
  };
  auto write = [&fs, this](const Highwater& mark) { return WriteHighwater(fs, dir, mark); };
  highwater = std::make_unique<HighwaterKeeper>(collect, write, log);
  if (Status s = highwater->RecordNow(); !s.ok()) return s;  // the evidence of this Open's recovery
  return MarkSpoolCreated(dir);
}

Status Spool::Impl::WriteRemoval(rocksdb::WriteBatch& batch, const Removal& removal) {
  uint64_t floor, expired_total;
  {
    std::lock_guard lock(mu);
    floor = next_seq;  // every removed sequence number is below it
    expired_total = expired_count + removal.expired;
  }
  batch.Put(meta, kMetaSequenceFloor, EncodeU64(floor));
  if (removal.expired > 0) batch.Put(meta, kMetaExpiredCount, EncodeU64(expired_total));
  // Not fsync'd: a removal that a power cut undoes brings intents back, which are then applied
  // again idempotently (or expired again), while an fsync per applied batch would cap the drain
  // rate at the disk's fsync rate.
  rocksdb::WriteOptions removal_options;
  removal_options.sync = removal.sync;
  rocksdb::Status s = Write(removal_options, &batch);
  if (!s.ok()) return FromRocks(s, "update spool " + dir);
  {
    std::lock_guard lock(mu);
    pending_count -= removal.count;
    pending_bytes -= removal.bytes;
    registered_count = static_cast<uint64_t>(static_cast<int64_t>(registered_count) + removal.registered_delta);
    expired_count = expired_total;
    failed_count += removal.failed;
  }
  MaybeCompactRemoved(removal.count);
  return Status::Ok();
}

Status Spool::Impl::CollectPending(std::span<const uint64_t> seqs, Collected& out) {
  std::vector<uint64_t> sorted(seqs.begin(), seqs.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (uint64_t seq : sorted) {
    std::string key = SequenceKey(seq), value;
    bool found;
    if (Status s = Get(intents, key, value, found); !s.ok()) return s;
    if (!found) return Status::NotFound("intent " + std::to_string(seq) + " is not pending");
    Result<SpooledIntent> record = DecodePending(key, value);
    if (!record.ok()) return record.status();
    out.batch.Delete(intents, key);
    ++out.removal.count;
    out.removal.bytes += value.size();
    out.records.push_back(std::move(record).value());
    out.values.push_back(std::move(value));
  }
  return Status::Ok();
}

// Removed intents leave tombstones at the head of the key range; compacting that range down to
// the bottommost level is what actually drops them (a default CompactRange does not).
void Spool::Impl::MaybeCompactRemoved(uint64_t removed) {
  removed_since_compaction += removed;
  if (removed_since_compaction < options.compact_after_removed) return;
  removed_since_compaction = 0;
  std::string lower_key;
  {
    std::lock_guard lock(mu);
    lower_key = SequenceKey(scan_floor);
  }
  rocksdb::Slice lower(lower_key);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, intents));
  it->Seek(lower);
  // Up to the first pending intent, or everything once nothing is pending.
  std::string end_key = it->Valid() ? it->key().ToString() : SequenceKey(UINT64_MAX);
  rocksdb::Slice end(end_key);
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  rocksdb::Status s = db->CompactRange(cro, intents, nullptr, &end);
  if (!s.ok()) log->warn("compaction of removed intents in spool {} failed: {}", dir, s.ToString());
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

const std::string& Spool::dir() const { return impl_->dir; }

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, SpoolOptions options) {
  if (Status s = options.create_if_missing ? PrepareSpoolDirectory(dir) : CheckSpoolDirectory(dir); !s.ok()) {
    return s;
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->log = LoggerOrDefault(options.logger);
  if (!options.clock_ms) options.clock_ms = SystemClockMs;
  impl->options = std::move(options);
  impl->write_options.sync = impl->options.durability == Durability::kSync;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  // Opening an existing spool never adds families: a directory without them is not ours.
  db_options.create_missing_column_families = impl->options.create_if_missing;
  // A record cut short at the end of the log (a crash mid-write; never acknowledged) is dropped;
  // a damaged record anywhere else fails Open with kCorruption. Point-in-time recovery would
  // instead stop replaying at the damage and silently lose every acknowledged intent after it.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.max_total_wal_size = 64 << 20;
  db_options.keep_log_file_num = 2;
  db_options.max_log_file_size = 1 << 20;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = RocksLoggerTo(impl->log);  // no LOG file: see rocks_logger.h
  // RocksDB records each log's creation and synced size in the MANIFEST and fails Open when one
  // it still needs is missing or shorter.
  db_options.track_and_verify_wals_in_manifest = true;
  db_options.listeners.push_back(WriteRecovery::ManualRecovery());
  // The sync leader inserts its whole write group into the memtable itself instead of waking
  // every writer to insert its own record: on a 2-core machine the wake-ups cost more than the
  // inserts (+27-30% appends/s at 16 writers, bench/spool_bench.cc).
  db_options.allow_concurrent_memtable_write = false;
  impl->env = rocksdb::NewCompositeEnv(PrivateFileSystem(
      impl->options.file_system ? impl->options.file_system : rocksdb::FileSystem::Default()));
  db_options.env = impl->env.get();
  rocksdb::ColumnFamilyOptions family_options;
  family_options.write_buffer_size = 16 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = SpoolFamilies(family_options);
  Result<OpenEvidence> evidence = CheckBeforeOpen(*impl->env, dir);
  if (!evidence.ok()) return evidence.status();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, families, &impl->handles, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock hold by current process") != std::string::npos) {
      return Status::SpoolInUse("spool " + dir + " is already open in this process (" + s.ToString() + ")");
    }
    if (s.IsIOError() && s.ToString().find("While lock file") != std::string::npos) {
      std::string owner = ReadOwner(dir);
      return Status::SpoolInUse("spool " + dir + " is in use by another process" +
                                (owner.empty() ? "" : " (" + owner + ")") + ": it is locked (" + s.ToString() + ")");
    }
    return OpenFailure(s, "open spool " + dir, *evidence);
  }
  impl->db.reset(raw);
  impl->writes = std::make_unique<WriteRecovery>(dir, impl->log);
  impl->intents = impl->handles[kIntentsIndex];
  impl->registered = impl->handles[kRegisteredIndex];
  impl->meta = impl->handles[kMetaIndex];
  impl->failed = impl->handles[kFailedIndex];
  WriteOwner(dir);
  if (Status loaded = impl->Load(); !loaded.ok()) return loaded;
  if (Status checked = impl->CheckRecoveryAndKeepHighwater(*evidence); !checked.ok()) return checked;
  impl->log->info("opened spool {}: {} pending, {} registered, next seq {}", dir, impl->pending_count,
                  impl->registered_count, impl->next_seq);
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

// What Append and AppendBatch share: validate and stamp every entry, reserve room and
// consecutive sequence numbers for all of them under one lock, write them in one batch. Returns
// the first sequence number. `batch` names entries by index in errors.
Result<uint64_t> Spool::Impl::AppendEntries(std::span<BatchEntry> entries, bool batch) {
  const int64_t now = Now();
  uint64_t size = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    Intent& intent = entries[i].intent;
    const std::chrono::milliseconds ttl = entries[i].ttl;
    if (Status s = ValidateIntent(intent, ttl, options.max_data_bytes); !s.ok()) {
      return batch ? Status::InvalidArgument("entry " + std::to_string(i) + ": " + s.message()) : s;
    }
    intent.enqueued_at_ms = now;
    intent.expires_at_ms = ttl.count() > 0 ? now + ttl.count() : 0;
    size += EncodedRecordSize(intent);
  }
  const uint64_t count = entries.size();
  const std::string what = batch ? "; the batch's " + std::to_string(count) + " intents" : "";
  uint64_t first;
  {
    std::lock_guard lock(mu);
    if (pending_count + count > options.max_pending_intents) {
      return Status::SpoolFull("spool " + dir + " holds " + std::to_string(pending_count) + " pending intents" +
                               (batch ? what + " would pass the limit (max_pending_intents " +
                                            std::to_string(options.max_pending_intents) + ")"
                                      : ", the limit (max_pending_intents)"));
    }
    if (pending_bytes + size > options.max_pending_bytes) {
      return Status::SpoolFull("spool " + dir + " holds " + std::to_string(pending_bytes) +
                               " bytes of pending intents; " + std::to_string(size) +
                               " more would pass the limit (max_pending_bytes " +
                               std::to_string(options.max_pending_bytes) + ")");
    }
    first = next_seq;
    next_seq += count;
    pending_count += count;
    pending_bytes += size;
    in_flight.insert(first);  // the batch lands whole: its first number stands for all of them
  }
  rocksdb::WriteBatch write;
  for (uint64_t i = 0; i < count; ++i) {
    write.Put(intents, SequenceKey(first + i), EncodeRecord({first + i, std::move(entries[i].intent)}));
  }
  rocksdb::Status s = Write(write_options, &write);
  {
    std::lock_guard lock(mu);
    in_flight.erase(first);
    if (!s.ok()) {
      pending_count -= count;
      pending_bytes -= size;
    } else {
      acknowledged = std::max(acknowledged, first + count - 1);
    }
  }
  if (!s.ok()) {
    log->error("append to spool {} failed: {}", dir, s.ToString());
    return FromRocks(s, "append to spool " + dir);
  }
  highwater->Changed();
  return first;
}

Result<uint64_t> Spool::Append(Intent intent, std::chrono::milliseconds ttl) {
  BatchEntry entry{std::move(intent), ttl};
  return impl_->AppendEntries(std::span<BatchEntry>(&entry, 1), /*batch=*/false);
}

Result<std::vector<uint64_t>> Spool::AppendBatch(std::vector<BatchEntry> entries) {
  if (entries.empty()) return std::vector<uint64_t>();
  Result<uint64_t> first = impl_->AppendEntries(entries, /*batch=*/true);
  if (!first.ok()) return first.status();
  std::vector<uint64_t> seqs(entries.size());
  for (size_t i = 0; i < seqs.size(); ++i) seqs[i] = *first + i;
  return seqs;
}

Result<std::vector<SpooledIntent>> Spool::ReadPending(uint64_t from_seq, size_t max_count) const {
  Impl& d = *impl_;
  uint64_t floor, settled_below;
  {
    std::lock_guard lock(d.mu);
    floor = d.scan_floor;
    settled_below = d.SettledBelowLocked();
  }
  const uint64_t start = std::max(from_seq, floor);
  std::string lower_key = SequenceKey(start);
  rocksdb::Slice lower(lower_key);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, d.intents));
  it->Seek(lower);
  std::vector<SpooledIntent> out;
  std::optional<uint64_t> first_seen;
  for (; it->Valid() && out.size() < max_count; it->Next()) {
    Result<SpooledIntent> record = DecodePending(it->key(), it->value());
    if (!record.ok()) return record.status();
    if (!first_seen) first_seen = record->seq;
    // An append below this one may still land: stop, so a caller's cursor never skips it.
    if (record->seq >= settled_below) break;
    out.push_back(std::move(record).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read pending intents of spool " + d.dir);
  if (start == floor && (first_seen || !it->Valid())) {
    // Nothing below what we saw can appear later unless its write was still in flight.
    std::lock_guard lock(d.mu);
    d.scan_floor = std::max(d.scan_floor, std::min(first_seen.value_or(settled_below), settled_below));
  }
  return out;
}

Result<SpooledIntent> Spool::GetPending(uint64_t seq) const {
  std::string value;
  bool found;
  if (Status s = impl_->Get(impl_->intents, SequenceKey(seq), value, found); !s.ok()) return s;
  if (!found) return Status::NotFound("intent " + std::to_string(seq) + " is not pending");
  std::string key = SequenceKey(seq);
  return DecodePending(key, value);
}

Status Spool::MarkApplied(std::span<const uint64_t> seqs) {
  Impl& d = *impl_;
  if (seqs.empty()) return Status::Ok();
  std::lock_guard removal_lock(d.removal_mu);
  Impl::Collected c;
  if (Status s = d.CollectPending(seqs, c); !s.ok()) return s;
  std::map<std::string, bool> path_registered;  // as this batch leaves it
  for (size_t i = 0; i < c.records.size(); ++i) {
    const std::string& path = c.records[i].intent.path;
    auto known = path_registered.find(path);
    if (known == path_registered.end()) {
      std::string ignored;
      bool exists;
      if (Status s = d.Get(d.registered, path, ignored, exists); !s.ok()) return s;
      known = path_registered.emplace(path, exists).first;
    }
    if (c.records[i].intent.op == Op::kPut) {
      c.batch.Put(d.registered, path, c.values[i]);
      if (!known->second) ++c.removal.registered_delta;
      known->second = true;
    } else if (known->second) {
      c.batch.Delete(d.registered, path);
      --c.removal.registered_delta;
      known->second = false;
    }
  }
  return d.WriteRemoval(c.batch, c.removal);
}

Result<std::vector<SpooledIntent>> Spool::RemovePending(std::span<const uint64_t> seqs) {
  Impl& d = *impl_;
  if (seqs.empty()) return std::vector<SpooledIntent>();
  std::lock_guard removal_lock(d.removal_mu);
  Impl::Collected c;
  if (Status s = d.CollectPending(seqs, c); !s.ok()) return s;
  c.removal.sync = true;
  if (Status s = d.WriteRemoval(c.batch, c.removal); !s.ok()) return s;
  d.log->warn("spool {}: removed {} pending intents unapplied (seq {} .. {})", d.dir, c.records.size(),
              c.records.front().seq, c.records.back().seq);
  return std::move(c.records);
}

Status Spool::MarkFailed(std::span<const uint64_t> seqs, std::string_view reason) {
  Impl& d = *impl_;
  if (seqs.empty()) return Status::Ok();
  std::lock_guard removal_lock(d.removal_mu);
  Impl::Collected c;
  if (Status s = d.CollectPending(seqs, c); !s.ok()) return s;
  for (size_t i = 0; i < c.records.size(); ++i) {
    c.batch.Put(d.failed, SequenceKey(c.records[i].seq), EncodeFailed(c.values[i], reason));
  }
  c.removal.failed = c.records.size();
  if (Status s = d.WriteRemoval(c.batch, c.removal); !s.ok()) return s;
  d.log->error("spool {}: parked {} intents as failed (seq {} .. {}): {}", d.dir, c.records.size(),
               c.records.front().seq, c.records.back().seq, reason);
  return Status::Ok();
}

Result<std::vector<FailedIntent>> Spool::ReadFailed(uint64_t from_seq, size_t max_count) const {
  Impl& d = *impl_;
  std::string lower_key = SequenceKey(from_seq);
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(rocksdb::ReadOptions(), d.failed));
  std::vector<FailedIntent> out;
  for (it->Seek(lower_key); it->Valid() && out.size() < max_count; it->Next()) {
    Result<FailedIntent> failed = DecodeFailed(it->value().ToStringView());
    if (!failed.ok()) return Status::Corruption("failed intent: " + failed.status().message());
    out.push_back(std::move(failed).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read failed intents of spool " + d.dir);
  return out;
}

Result<std::vector<SpooledIntent>> Spool::Expire(int64_t now_ms, const std::set<uint64_t>& keep) {
  Impl& d = *impl_;
  std::lock_guard removal_lock(d.removal_mu);
  std::vector<SpooledIntent> expired;
  rocksdb::WriteBatch batch;
  Impl::Removal removal;
  uint64_t from = 0;
  // Read a few at a time: 1,024 records of the largest intents held 1 GiB at once on every pass
  // (every 500 ms in the reconciler). Each pass still decodes the whole backlog; an index by
  // expiry time (issue 11) removes that.
  constexpr size_t kChunk = 16;
  for (;;) {
    Result<std::vector<SpooledIntent>> chunk = ReadPending(from, kChunk);
    if (!chunk.ok()) return chunk.status();
    for (SpooledIntent& record : *chunk) {
      if (!IsExpired(record.intent, now_ms) || keep.count(record.seq)) continue;
      batch.Delete(d.intents, SequenceKey(record.seq));
      removal.bytes += EncodedRecordSize(record.intent);
      expired.push_back(std::move(record));
    }
    if (chunk->size() < kChunk) break;
    from = chunk->back().seq + 1;
  }
  if (expired.empty()) return expired;
  removal.count = removal.expired = expired.size();
  if (Status s = d.WriteRemoval(batch, removal); !s.ok()) return s;
  d.log->warn("spool {}: dropped {} expired intents (seq {} .. {})", d.dir, expired.size(), expired.front().seq,
              expired.back().seq);
  return expired;
}

Result<std::vector<SpooledIntent>> Spool::ReadRegistered(std::string_view after_path, size_t max_count) const {
  Impl& d = *impl_;
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(rocksdb::ReadOptions(), d.registered));
  std::vector<SpooledIntent> out;
  for (it->Seek(after_path); it->Valid() && out.size() < max_count; it->Next()) {
    if (it->key().ToStringView() == after_path) continue;
    Result<SpooledIntent> record = DecodeRegistered(it->key().ToStringView(), it->value().ToStringView());
    if (!record.ok()) return record.status();
    out.push_back(std::move(record).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read registered set of spool " + d.dir);
  return out;
}

Result<SpooledIntent> Spool::GetRegistered(std::string_view path) const {
  std::string value;
  bool found;
  if (Status s = impl_->Get(impl_->registered, path, value, found); !s.ok()) return s;
  if (!found) return Status::NotFound("path " + std::string(path) + " is not registered");
  return DecodeRegistered(path, value);
}

Status Spool::SaveSession(const SessionInfo& session) {
  Impl& d = *impl_;
  std::lock_guard removal_lock(d.removal_mu);
  Result<std::vector<int64_t>> owned = OwnedSessions();
  if (!owned.ok()) return owned.status();
  if (std::find(owned->begin(), owned->end(), session.id) == owned->end()) owned->push_back(session.id);
  if (owned->size() > kMaxOwnedSessions) owned->erase(owned->begin(), owned->end() - kMaxOwnedSessions);
  rocksdb::WriteBatch batch;
  batch.Put(d.meta, kMetaSession, EncodeSession(session));
  batch.Put(d.meta, kMetaOwnedSessions, EncodeSessionIds(*owned));
  rocksdb::WriteOptions sync;
  sync.sync = true;  // a lost session id would make our own stale ephemerals look foreign
  return FromRocks(d.Write(sync, &batch), "save session in spool " + d.dir);
}

Result<std::optional<SessionInfo>> Spool::LoadSession() const {
  std::string value;
  bool found;
  if (Status s = impl_->Get(impl_->meta, kMetaSession, value, found); !s.ok()) return s;
  if (!found) return std::optional<SessionInfo>();
  Result<SessionInfo> session = DecodeSession(value);
  if (!session.ok()) return session.status();
  return std::optional<SessionInfo>(std::move(session).value());
}

Result<std::vector<int64_t>> Spool::OwnedSessions() const {
  std::string value;
  bool found;
  if (Status s = impl_->Get(impl_->meta, kMetaOwnedSessions, value, found); !s.ok()) return s;
  if (!found) return std::vector<int64_t>();
  return DecodeSessionIds(value);
}

Result<SpoolStats> Spool::Stats() const {
  Impl& d = *impl_;
  SpoolStats stats;
  {
    std::lock_guard lock(d.mu);
    stats.pending_count = d.pending_count;
    stats.pending_bytes = d.pending_bytes;
    stats.registered_count = d.registered_count;
    stats.next_sequence = d.next_seq;
    stats.expired_count = d.expired_count;
    stats.failed_count = d.failed_count;
  }
  Result<std::vector<SpooledIntent>> oldest = ReadPending(0, 1);
  if (!oldest.ok()) return oldest.status();
  if (!oldest->empty()) {
    int64_t age = d.Now() - oldest->front().intent.enqueued_at_ms;
    stats.oldest_pending_age = std::chrono::milliseconds(std::max<int64_t>(age, 0));
  }
  return stats;
}

}  // namespace zkspool
