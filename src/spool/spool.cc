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
#include "spool/counters.h"
#include "spool/expiry_key.h"
#include "spool/highwater.h"
#include "spool/meta_codec.h"
#include "spool/private_file_system.h"
#include "spool/record_codec.h"
#include "spool/rocks_logger.h"
#include "spool/sequence_key.h"
#include "spool/spool_directory.h"
#include "spool/spool_impl.h"
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

// A spool written by format 1 has every family of today's but the expiry index.
bool IsFormat1Spool(const std::string& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok()) return false;
  std::set<std::string> have(names.begin(), names.end());
  return have == std::set<std::string>{rocksdb::kDefaultColumnFamilyName, kIntentsFamily, kRegisteredFamily,
                                       kMetaFamily, kFailedFamily};
}

}  // namespace

Spool::Impl::~Impl() {
  StopCompactor();
  if (!db) return;
  if (highwater) {
    if (Status s = highwater->Stop(); !s.ok()) log->warn("spool {}: {}", dir, s.message());
  }
  // A clean close leaves nothing in the log to replay: the next Open costs the same whatever the
  // spool holds (a crash still replays at most max_total_wal_size).
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  if (rocksdb::Status s = db->Flush(flush, handles); !s.ok()) {
    log->warn("spool {}: flushing on close failed ({}); the next open replays the log", dir, s.ToString());
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  db->Close().PermitUncheckedError();
  db.reset();
}

rocksdb::Status Spool::Impl::Write(const rocksdb::WriteOptions& write, rocksdb::WriteBatch* batch) {
  return writes->Write(*db, write, batch);
}

Status Spool::Impl::Get(rocksdb::ColumnFamilyHandle* family, std::string_view key, std::string& value,
                        bool& found) const {
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), family, key, &value);
  found = s.ok();
  if (s.ok() || s.IsNotFound()) return Status::Ok();
  return FromRocks(s, "read from spool " + dir);
}

Status Spool::Impl::Load() {
  std::string value;
  bool found;
  if (Status s = Get(meta, kMetaFormatVersion, value, found); !s.ok()) return s;
  if (!found) {  // a new spool: every count is zero, nothing to index
    rocksdb::WriteOptions sync;
    sync.sync = true;
    rocksdb::Status s = db->Put(sync, meta, kMetaFormatVersion, EncodeU64(kSpoolFormatVersion));
    if (!s.ok()) return FromRocks(s, "initialize spool " + dir);
  } else {
    if (Status s = CheckFormatVersion(value, dir); !s.ok()) return s;
    Result<uint64_t> version = DecodeU64(value, kMetaFormatVersion);
    if (*version < 2) {
      if (Status s = MigrateFromFormat1(); !s.ok()) return s;
    }
  }
  if (Status s = ReadCounters(); !s.ok()) return s;

  uint64_t floor = 1;
  if (Status s = Get(meta, kMetaSequenceFloor, value, found); !s.ok()) return s;
  if (found) {
    Result<uint64_t> v = DecodeU64(value, kMetaSequenceFloor);
    if (!v.ok()) return v.status();
    floor = std::max<uint64_t>(*v, 1);
  }
  // Only the two ends of the backlog are read: Open costs the same for 10 or 1M pending.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), intents));
  it->SeekToLast();
  std::optional<uint64_t> last;
  if (it->Valid()) {
    last = ParseSequenceKey(it->key().ToStringView());
    if (!last) return Status::Corruption("spool " + dir + " has an intent key that is not a sequence number");
  }
  it->SeekToFirst();
  std::optional<uint64_t> first;
  if (it->Valid()) {
    first = ParseSequenceKey(it->key().ToStringView());
    if (!first) return Status::Corruption("spool " + dir + " has an intent key that is not a sequence number");
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read intents of spool " + dir);
  if (first.has_value() != (pending_count > 0)) {
    return Status::Corruption("spool " + dir + " counts " + std::to_string(pending_count) +
                              " pending intents but its intents family " + (first ? "is not empty" : "is empty"));
  }
  next_seq = std::max(floor, last ? *last + 1 : 1);
  scan_floor = first.value_or(next_seq);

  std::unique_ptr<rocksdb::Iterator> due(db->NewIterator(rocksdb::ReadOptions(), expiry));
  due->SeekToFirst();
  if (due->Valid()) {
    std::optional<std::pair<int64_t, uint64_t>> key = ParseExpiryKey(due->key().ToStringView());
    if (!key) return Status::Corruption("spool " + dir + " has an expiry index key of the wrong size");
    expiry_floor = next_expiry_hint = key->first;
  }
  return FromRocks(due->status(), "read expiry index of spool " + dir);
}

Status Spool::Impl::CheckRecoveryAndKeepHighwater(const OpenEvidence& evidence) {
  Result<uint64_t> recovered = RecoveredSequence(*db, intents, meta, failed);
  if (!recovered.ok()) return recovered.status();
  if (Status s = CheckRecovered(*env, dir, evidence, *recovered); !s.ok()) return s;
  // Every block of every family is read once, so that damage in a table file fails Open here,
  // naming the file, instead of surfacing later as an intent that cannot be read. Sequential
  // reads of whole files, without filling the block cache.
  rocksdb::ReadOptions verify;
  verify.fill_cache = false;
  if (rocksdb::Status s = db->VerifyChecksum(verify); !s.ok()) {
    return FromRocks(s, "verify the table files of spool " + dir);
  }
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

Status Spool::Impl::ReadCounters() {
  struct Counter {
    std::string_view key;
    std::vector<uint64_t*> values;
  };
  const Counter counters[] = {{kMetaPending, {&pending_count, &pending_bytes}},
                              {kMetaRegisteredCount, {&registered_count}},
                              {kMetaFailedCount, {&failed_count}},
                              {kMetaExpiredCount, {&expired_count}}};
  for (const Counter& c : counters) {
    std::string value;
    bool found;
    if (Status s = Get(meta, c.key, value, found); !s.ok()) return s;
    for (uint64_t* v : c.values) *v = 0;
    if (!found) continue;
    Result<std::vector<uint64_t>> got = DecodeCounter(value, c.key, c.values.size());
    if (!got.ok()) return got.status();
    for (size_t i = 0; i < c.values.size(); ++i) *c.values[i] = (*got)[i];
  }
  return Status::Ok();
}

Status Spool::Impl::MigrateFromFormat1() {
  rocksdb::WriteBatch batch;
  uint64_t pending = 0, bytes = 0, registered_nodes = 0, parked = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), intents));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Result<SpooledIntent> record = DecodePending(it->key(), it->value());
    if (!record.ok()) return record.status();
    ++pending;
    bytes += it->value().size();
    if (record->intent.expires_at_ms != 0) batch.Put(expiry, ExpiryKey(record->intent.expires_at_ms, record->seq), "");
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan intents of spool " + dir);
  std::unique_ptr<rocksdb::Iterator> reg(db->NewIterator(rocksdb::ReadOptions(), registered));
  for (reg->SeekToFirst(); reg->Valid(); reg->Next()) ++registered_nodes;
  if (!reg->status().ok()) return FromRocks(reg->status(), "scan registered set of spool " + dir);
  std::unique_ptr<rocksdb::Iterator> fail(db->NewIterator(rocksdb::ReadOptions(), failed));
  for (fail->SeekToFirst(); fail->Valid(); fail->Next()) ++parked;
  if (!fail->status().ok()) return FromRocks(fail->status(), "scan failed set of spool " + dir);
  batch.Put(meta, kMetaPending, EncodeCounter({pending, bytes}));
  batch.Put(meta, kMetaRegisteredCount, EncodeCounter({registered_nodes}));
  batch.Put(meta, kMetaFailedCount, EncodeCounter({parked}));
  batch.Put(meta, kMetaFormatVersion, EncodeU64(kSpoolFormatVersion));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (rocksdb::Status s = db->Write(sync, &batch); !s.ok()) return FromRocks(s, "upgrade spool " + dir);
  log->info("spool {}: upgraded to format {} ({} pending, {} registered, {} failed)", dir, kSpoolFormatVersion,
            pending, registered_nodes, parked);
  return Status::Ok();
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

const std::string& Spool::dir() const { return impl_->dir; }

int64_t Spool::NowMs() const { return impl_->Now(); }

uint64_t Spool::NextSequence() const {
  std::lock_guard lock(impl_->mu);
  return impl_->next_seq;
}

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
  // Opening an existing spool adds no families (CheckBeforeOpen refused anything else), except
  // the one format 2 added to a format-1 spool, which Load then fills.
  db_options.create_missing_column_families = impl->options.create_if_missing || IsFormat1Spool(dir);
  // A record cut short at the end of the log (a crash mid-write; never acknowledged) is dropped;
  // a damaged record anywhere else fails Open with kCorruption. Point-in-time recovery would
  // instead stop replaying at the damage and silently lose every acknowledged intent after it.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // What a crash leaves to replay: Open replays about 10 MiB a second on a small machine.
  db_options.max_total_wal_size = 16 << 20;
  db_options.keep_log_file_num = 2;
  db_options.max_log_file_size = 1 << 20;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = RocksLoggerTo(impl->log);  // no LOG file: see rocks_logger.h
  // RocksDB records each log's creation and synced size in the MANIFEST and fails Open when one
  // it still needs is missing or shorter.
  db_options.track_and_verify_wals_in_manifest = true;
  // The sync leader inserts its whole write group into the memtable itself instead of waking
  // every writer to insert its own record: on a 2-core machine the wake-ups cost more than the
  // inserts (+27-30% appends/s at 16 writers, bench/spool_bench.cc).
  db_options.allow_concurrent_memtable_write = false;
  impl->env = rocksdb::NewCompositeEnv(PrivateFileSystem(
      impl->options.file_system ? impl->options.file_system : rocksdb::FileSystem::Default()));
  db_options.env = impl->env.get();
  WriteRecovery::Configure(db_options);
  // Memtables are what a spool's memory grows with: all of a spool's together stay under
  // db_write_buffer_size (the largest is flushed first), whatever passes through it.
  db_options.db_write_buffer_size = 4 << 20;
  rocksdb::ColumnFamilyOptions family_options;
  family_options.write_buffer_size = 2 << 20;
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
  impl->expiry = impl->handles[kExpiryIndex];
  WriteOwner(dir);
  if (Status loaded = impl->Load(); !loaded.ok()) return loaded;
  if (Status checked = impl->CheckRecoveryAndKeepHighwater(*evidence); !checked.ok()) return checked;
  impl->StartCompactor();
  impl->log->info("opened spool {}: {} pending, {} registered, next seq {}", dir, impl->pending_count,
                  impl->registered_count, impl->next_seq);
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

// What Append and AppendBatch share: validate and stamp every entry, reserve room and
// consecutive sequence numbers for all of them under one lock, write them (with their expiry
// index entries and the counters' deltas) in one batch. Returns the first sequence number.
// `batch` names entries by index in errors.
Result<uint64_t> Spool::Impl::AppendEntries(std::span<BatchEntry> entries, bool batch) {
  const int64_t now = Now();
  uint64_t size = 0;
  int64_t earliest_expiry = kNoExpiry;
  for (size_t i = 0; i < entries.size(); ++i) {
    Intent& intent = entries[i].intent;
    const std::chrono::milliseconds ttl = entries[i].ttl;
    if (Status s = ValidateIntent(intent, ttl, options.max_data_bytes); !s.ok()) {
      return batch ? Status::InvalidArgument("entry " + std::to_string(i) + ": " + s.message()) : s;
    }
    intent.enqueued_at_ms = now;
    intent.expires_at_ms = ttl.count() > 0 ? now + ttl.count() : 0;
    if (intent.expires_at_ms != 0) earliest_expiry = std::min(earliest_expiry, intent.expires_at_ms);
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
    if (earliest_expiry != kNoExpiry) {
      expiry_in_flight.insert(earliest_expiry);
      appended_expiry_min = std::min(appended_expiry_min, earliest_expiry);
      next_expiry_hint = std::min(next_expiry_hint, earliest_expiry);
    }
  }
  rocksdb::WriteBatch write;
  for (uint64_t i = 0; i < count; ++i) {
    const int64_t expires_at = entries[i].intent.expires_at_ms;
    write.Put(intents, SequenceKey(first + i), EncodeRecord({first + i, std::move(entries[i].intent)}));
    if (expires_at != 0) write.Put(expiry, ExpiryKey(expires_at, first + i), "");
  }
  AddToCounter(write, meta, kMetaPending, {static_cast<int64_t>(count), static_cast<int64_t>(size)});
  rocksdb::Status s = Write(write_options, &write);
  {
    std::lock_guard lock(mu);
    in_flight.erase(first);
    if (earliest_expiry != kNoExpiry) expiry_in_flight.erase(expiry_in_flight.find(earliest_expiry));
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

Result<std::vector<SpooledIntent>> Spool::ReadPending(uint64_t from_seq, size_t max_count, size_t max_bytes) const {
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
  ro.fill_cache = false;  // pending intents are read once, by the cursor
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, d.intents));
  it->Seek(lower);
  std::vector<SpooledIntent> out;
  std::optional<uint64_t> first_seen;
  size_t bytes = 0;
  for (; it->Valid() && out.size() < max_count; it->Next()) {
    bytes += it->value().size();
    if (!out.empty() && bytes > max_bytes) break;
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

Result<std::vector<SpooledIntent>> Spool::ReadRegistered(std::string_view after_path, size_t max_count) const {
  Impl& d = *impl_;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a pass over the registered set reads each block once: not worth caching
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, d.registered));
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

class SpoolSnapshot {
 public:
  SpoolSnapshot(rocksdb::DB* db, const rocksdb::Snapshot* snapshot) : db_(db), snapshot_(snapshot) {}
  ~SpoolSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

std::shared_ptr<const SpoolSnapshot> Spool::Snapshot() const {
  return std::make_shared<SpoolSnapshot>(impl_->db.get(), impl_->db->GetSnapshot());
}

Result<RegisteredChunk> Spool::ReadRegisteredUnchanged(const SpoolSnapshot& since, std::string_view after_path,
                                                       size_t max_count, size_t max_bytes) const {
  Impl& d = *impl_;
  rocksdb::ReadOptions then;
  then.snapshot = since.get();
  then.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(then, d.registered));
  std::vector<std::string> keys, values;
  RegisteredChunk chunk;
  size_t bytes = 0;
  for (it->Seek(after_path); it->Valid() && keys.size() < max_count; it->Next()) {
    if (it->key().ToStringView() == after_path) continue;
    bytes += it->key().size() + it->value().size();
    if (!keys.empty() && bytes > max_bytes) break;
    keys.push_back(it->key().ToString());
    values.push_back(it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read registered set of spool " + d.dir);
  chunk.done = !it->Valid();
  chunk.last_path = keys.empty() ? std::string(after_path) : keys.back();
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> now(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  d.db->MultiGet(rocksdb::ReadOptions(), d.registered, keys.size(), slices.data(), now.data(), statuses.data(),
                 /*sorted_input=*/true);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;  // deregistered since
    if (!statuses[i].ok()) return FromRocks(statuses[i], "read registered set of spool " + d.dir);
    if (now[i].ToStringView() != values[i]) continue;  // put again since
    Result<SpooledIntent> record = DecodeRegistered(keys[i], values[i]);
    if (!record.ok()) return record.status();
    chunk.nodes.push_back(std::move(record).value());
  }
  return chunk;
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

Status Spool::ForgetSession() {
  Impl& d = *impl_;
  std::lock_guard removal_lock(d.removal_mu);
  rocksdb::WriteBatch batch;
  batch.Delete(d.meta, kMetaSession);
  rocksdb::WriteOptions sync;
  sync.sync = true;  // a forgotten session that comes back after a power cut is only a warning
  return FromRocks(d.Write(sync, &batch), "forget the session in spool " + d.dir);
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
  {
    std::lock_guard lock(d.compact_mu);
    stats.compactions = d.compactions;
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
