// Everything that takes intents out of the pending set: applied, parked as failed, expired or
// purged. Each removal is one atomic write that also moves the counters and the expiry index.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "spool/counters.h"
#include "spool/expiry_key.h"
#include "spool/meta_codec.h"
#include "spool/record_codec.h"
#include "spool/sequence_key.h"
#include "spool/spool_impl.h"
#include "spool/spool_schema.h"

namespace zkspool {

Status Spool::Impl::CollectPending(std::span<const uint64_t> seqs, Collected& out) {
  std::vector<uint64_t> sorted(seqs.begin(), seqs.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.empty()) return Status::Ok();
  // One iterator over the range: the intents removed together were mostly loaded together, so
  // their keys are neighbours and Next finds each in the block already read, where a lookup
  // per key would search (and decompress) from the top every time.
  const std::string upper_key = SequenceKey(sorted.back() + 1);
  const rocksdb::Slice upper(upper_key);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, intents));
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string key = SequenceKey(sorted[i]);
    if (i == 0 || !it->Valid() || it->key().compare(key) < 0) it->Seek(key);
    if (!it->status().ok()) return FromRocks(it->status(), "read from spool " + dir);
    if (!it->Valid() || it->key() != rocksdb::Slice(key)) {
      return Status::NotFound("intent " + std::to_string(sorted[i]) + " is not pending");
    }
    Result<SpooledIntent> record = DecodePending(it->key(), it->value());
    if (!record.ok()) return record.status();
    out.batch.Delete(intents, key);
    if (record->intent.expires_at_ms != 0) out.batch.Delete(expiry, ExpiryKey(record->intent.expires_at_ms, record->seq));
    ++out.removal.count;
    out.removal.bytes += it->value().size();
    if (out.keep_records) {
      out.records.push_back(std::move(record).value());
      out.values.emplace_back(it->value().ToStringView());
    }
    it->Next();
  }
  return Status::Ok();
}

Status Spool::Impl::SetRegistered(std::span<const AppliedPath> applied, rocksdb::WriteBatch& batch,
                                  Removal& removal) {
  // One MultiGet tells which paths are registered already (for the count): a Bloom filter answers
  // most of them without reading a block.
  std::vector<rocksdb::Slice> keys;
  keys.reserve(applied.size());
  for (const AppliedPath& p : applied) keys.emplace_back(p.path);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db->MultiGet(rocksdb::ReadOptions(), registered, keys.size(), keys.data(), values.data(), statuses.data());
  for (size_t i = 0; i < applied.size(); ++i) {
    if (!statuses[i].ok() && !statuses[i].IsNotFound()) return FromRocks(statuses[i], "read from spool " + dir);
    const bool exists = statuses[i].ok();
    if (applied[i].node) {
      batch.Put(registered, applied[i].path, EncodeRecord(*applied[i].node));
      if (!exists) ++removal.registered_delta;
    } else if (exists) {
      batch.Delete(registered, applied[i].path);
      --removal.registered_delta;
    }
  }
  return Status::Ok();
}

Status Spool::Impl::WriteRemoval(rocksdb::WriteBatch& batch, const Removal& removal) {
  uint64_t floor;
  {
    std::lock_guard lock(mu);
    floor = next_seq;  // every removed sequence number is below it
  }
  batch.Put(meta, kMetaSequenceFloor, EncodeU64(floor));
  AddToCounter(batch, meta, kMetaPending, {-static_cast<int64_t>(removal.count), -static_cast<int64_t>(removal.bytes)});
  AddToCounter(batch, meta, kMetaRegisteredCount, {removal.registered_delta});
  AddToCounter(batch, meta, kMetaExpiredCount, {static_cast<int64_t>(removal.expired)});
  AddToCounter(batch, meta, kMetaFailedCount, {static_cast<int64_t>(removal.failed)});
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
    expired_count += removal.expired;
    failed_count += removal.failed;
  }
  NoteRemoved(removal.count);
  return Status::Ok();
}

Status Spool::MarkApplied(std::span<const AppliedPath> applied) {
  Impl& d = *impl_;
  std::vector<uint64_t> seqs;
  for (const AppliedPath& p : applied) seqs.insert(seqs.end(), p.seqs.begin(), p.seqs.end());
  if (seqs.empty()) return Status::Ok();
  std::lock_guard removal_lock(d.removal_mu);
  Impl::Collected c;
  c.keep_records = false;  // an applied intent is only deleted: a copy of each would be waste
  if (Status s = d.CollectPending(seqs, c); !s.ok()) return s;
  std::vector<std::string_view> paths;
  paths.reserve(applied.size());
  for (const AppliedPath& p : applied) {
    if (p.node && (p.node->intent.path != p.path || p.node->intent.op != Op::kPut || p.node->intent.keep_mode)) {
      return Status::InvalidArgument("the registered node for " + p.path + " must be a resolved put of that path");
    }
    paths.push_back(p.path);
  }
  std::sort(paths.begin(), paths.end());
  if (auto twice = std::adjacent_find(paths.begin(), paths.end()); twice != paths.end()) {
    return Status::InvalidArgument("path " + std::string(*twice) + " is applied twice");
  }
  if (Status s = d.SetRegistered(applied, c.batch, c.removal); !s.ok()) return s;
  return d.WriteRemoval(c.batch, c.removal);
}

Status Spool::MarkApplied(std::span<const uint64_t> seqs) {
  std::vector<uint64_t> sorted(seqs.begin(), seqs.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::map<std::string, AppliedPath> by_path;
  for (uint64_t seq : sorted) {  // in sequence order: the last intent of a path decides
    Result<SpooledIntent> r = GetPending(seq);
    if (!r.ok()) return r.status();
    AppliedPath& p = by_path[r->intent.path];
    p.path = r->intent.path;
    p.seqs.push_back(seq);
    if (r->intent.op == Op::kDelete) {
      p.node.reset();
      continue;
    }
    if (r->intent.keep_mode) {
      std::optional<SpooledIntent> previous = p.node;
      if (!previous && p.seqs.size() == 1) {
        Result<SpooledIntent> current = GetRegistered(p.path);
        if (current.ok()) previous = std::move(current).value();
      }
      ResolveKeepMode(r->intent, previous ? &previous->intent : nullptr);
    }
    p.node = std::move(r).value();
  }
  std::vector<AppliedPath> applied;
  for (auto& [path, p] : by_path) applied.push_back(std::move(p));
  return MarkApplied(applied);
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

Result<std::vector<FailedIntent>> Spool::RemoveFailed(std::span<const uint64_t> seqs) {
  Impl& d = *impl_;
  std::vector<uint64_t> sorted(seqs.begin(), seqs.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::lock_guard removal_lock(d.removal_mu);
  rocksdb::WriteBatch batch;
  std::vector<FailedIntent> removed;
  for (uint64_t seq : sorted) {
    std::string key = SequenceKey(seq), value;
    bool found;
    if (Status s = d.Get(d.failed, key, value, found); !s.ok()) return s;
    if (!found) return Status::NotFound("intent " + std::to_string(seq) + " is not in the failed set");
    Result<FailedIntent> record = DecodeFailed(value);
    if (!record.ok()) return Status::Corruption("failed intent " + std::to_string(seq) + ": " + record.status().message());
    batch.Delete(d.failed, key);
    removed.push_back(std::move(record).value());
  }
  if (removed.empty()) return removed;
  AddToCounter(batch, d.meta, kMetaFailedCount, {-static_cast<int64_t>(removed.size())});
  rocksdb::WriteOptions sync;
  sync.sync = true;  // an operator's decision must not come back after a power cut
  if (rocksdb::Status s = d.Write(sync, &batch); !s.ok()) return FromRocks(s, "update spool " + d.dir);
  {
    std::lock_guard lock(d.mu);
    d.failed_count -= std::min<uint64_t>(d.failed_count, removed.size());
  }
  return removed;
}

Result<std::vector<SpooledIntent>> Spool::ExpireIntents(std::span<const uint64_t> seqs) {
  Impl& d = *impl_;
  if (seqs.empty()) return std::vector<SpooledIntent>();
  std::lock_guard removal_lock(d.removal_mu);
  Impl::Collected c;
  if (Status s = d.CollectPending(seqs, c); !s.ok()) return s;
  c.removal.expired = c.records.size();
  if (Status s = d.WriteRemoval(c.batch, c.removal); !s.ok()) return s;
  d.log->warn("spool {}: dropped {} expired intents (seq {} .. {})", d.dir, c.records.size(), c.records.front().seq,
              c.records.back().seq);
  return std::move(c.records);
}

Result<std::vector<SpooledIntent>> Spool::Expire(int64_t now_ms, const std::set<uint64_t>& keep) {
  constexpr size_t kChunk = 4096;
  std::vector<SpooledIntent> expired;
  size_t kept = 0;
  for (;;) {
    // Kept intents stay due, so each round reads past them.
    Result<std::vector<SpooledIntent>> due = ReadDue(now_ms, kept + kChunk);
    if (!due.ok()) return due.status();
    std::vector<uint64_t> drop;
    for (const SpooledIntent& r : *due) {
      if (!keep.count(r.seq)) drop.push_back(r.seq);
    }
    kept = due->size() - drop.size();
    if (!drop.empty()) {
      Result<std::vector<SpooledIntent>> removed = ExpireIntents(drop);
      if (!removed.ok()) return removed.status();
      expired.insert(expired.end(), removed->begin(), removed->end());
    }
    if (due->size() < kept + kChunk || drop.empty()) break;
  }
  std::sort(expired.begin(), expired.end(), [](const SpooledIntent& a, const SpooledIntent& b) { return a.seq < b.seq; });
  return expired;
}

Result<std::vector<SpooledIntent>> Spool::ReadDue(int64_t now_ms, size_t max_count) const {
  Impl& d = *impl_;
  int64_t in_flight_min, lower_at;
  {
    std::lock_guard lock(d.mu);
    in_flight_min = d.expiry_in_flight.empty() ? Impl::kNoExpiry : *d.expiry_in_flight.begin();
    lower_at = std::min({d.expiry_floor, in_flight_min, std::exchange(d.appended_expiry_min, Impl::kNoExpiry)});
  }
  std::string lower_key = ExpiryLowerBound(std::max<int64_t>(lower_at, 0));
  rocksdb::Slice lower(lower_key);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(ro, d.expiry));
  std::vector<std::pair<int64_t, uint64_t>> due;
  std::optional<int64_t> first_seen;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    std::optional<std::pair<int64_t, uint64_t>> key = ParseExpiryKey(it->key().ToStringView());
    if (!key) return Status::Corruption("spool " + d.dir + " has an expiry index key of the wrong size");
    if (!first_seen) first_seen = key->first;
    if (key->first > now_ms || due.size() >= max_count) break;
    due.push_back(*key);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read expiry index of spool " + d.dir);

  std::vector<SpooledIntent> out;
  for (const auto& [at, seq] : due) {
    Result<SpooledIntent> record = GetPending(seq);
    if (record.status().code() == StatusCode::kNotFound) continue;  // removed since the index was read
    if (!record.ok()) return record.status();
    out.push_back(std::move(record).value());
  }
  {
    std::lock_guard lock(d.mu);
    // Nothing below what the scan saw first is left, but a TTL append still in flight when the
    // scan began, or begun since, may be.
    const int64_t seen = first_seen.value_or(now_ms + 1);
    d.expiry_floor = std::min({seen, in_flight_min, d.appended_expiry_min});
    d.next_expiry_hint = std::min({first_seen.value_or(Impl::kNoExpiry), in_flight_min, d.appended_expiry_min});
  }
  return out;
}

std::optional<int64_t> Spool::NextExpiry() const {
  std::lock_guard lock(impl_->mu);
  if (impl_->next_expiry_hint == Impl::kNoExpiry) return std::nullopt;
  return impl_->next_expiry_hint;
}

}  // namespace zkspool
