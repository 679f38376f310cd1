#include "zkspool/spool_salvage.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>
#include <spdlog/logger.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>

#include "spool/highwater.h"
#include "spool/log_scan.h"
#include "spool/counters.h"
#include "spool/expiry_key.h"
#include "spool/meta_codec.h"
#include "spool/private_file_system.h"
#include "spool/record_codec.h"
#include "spool/rocks_logger.h"
#include "spool/sequence_key.h"
#include "spool/spool_directory.h"
#include "spool/spool_schema.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<spdlog::logger> Quiet() { return std::make_shared<spdlog::logger>("zkspool-salvage"); }

std::optional<uint64_t> LogNumber(const std::string& name) {
  if (!name.ends_with(".log")) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size() - 4, n);
  if (ec != std::errc() || end != name.data() + name.size() - 4) return std::nullopt;
  return n;
}

// The records that still read, keyed as in the spool, and what did not.
class Salvage {
 public:
  // Files one record of the family at `index` (SpoolFamilyIndex), if it passes its checks.
  void Keep(size_t index, std::string_view key, std::string_view value) {
    const std::string k(key), v(value);
    switch (index) {
      case kIntentsIndex: {
        Result<SpooledIntent> r = DecodePending(rocksdb::Slice(k), rocksdb::Slice(v));
        if (r.ok()) {
          pending_[r->seq] = v;
        } else {
          Lose(kIntentsFamily, r.status());
        }
        break;
      }
      case kRegisteredIndex: {
        Result<SpooledIntent> r = DecodeRegistered(k, v);
        if (r.ok() && r->intent.path == k) {
          registered_[k] = v;
        } else {
          Lose(kRegisteredFamily, r.ok() ? Status::Corruption("registered node holds another path") : r.status());
        }
        break;
      }
      case kFailedIndex: {
        Result<FailedIntent> r = DecodeFailed(v);
        std::optional<uint64_t> seq = ParseSequenceKey(k);
        if (r.ok() && seq && *seq == r->record.seq) {
          failed_[*seq] = v;
        } else {
          Lose(kFailedFamily, r.ok() ? Status::Corruption("key and record disagree") : r.status());
        }
        break;
      }
      case kMetaIndex:
        if (MetaValueReads(k, v)) {
          meta_[k] = v;
        } else {
          Lose(kMetaFamily, Status::Corruption("meta value " + k + " does not decode"));
        }
        break;
      default:
        break;  // the default family holds nothing of ours
    }
  }
  void Forget(size_t index, std::string_view key) {
    const std::string k(key);
    std::optional<uint64_t> seq = ParseSequenceKey(k);
    if (index == kIntentsIndex && seq) pending_.erase(*seq);
    if (index == kFailedIndex && seq) failed_.erase(*seq);
    if (index == kRegisteredIndex) registered_.erase(k);
    if (index == kMetaIndex) meta_.erase(k);
  }
  void Lose(const std::string& what) { lost_.push_back(what); }
  void Lose(const char* family, const Status& why) { lost_.push_back(std::string(family) + ": " + why.message()); }

  SalvageReport Report(std::optional<uint64_t> acknowledged) const {
    SalvageReport report;
    report.pending_kept = pending_.size();
    report.registered_kept = registered_.size();
    report.failed_kept = failed_.size();
    if (!pending_.empty()) {
      report.first_pending = pending_.begin()->first;
      report.last_pending = pending_.rbegin()->first;
    }
    report.session_kept = meta_.contains(std::string(kMetaSession));
    if (auto it = meta_.find(std::string(kMetaOwnedSessions)); it != meta_.end()) {
      report.owned_sessions_kept = DecodeSessionIds(it->second)->size();
    }
    report.expired_count = MetaU64(kMetaExpiredCount).value_or(0);
    report.lost = lost_;
    report.acknowledged = acknowledged;
    const uint64_t floor = MetaU64(kMetaSequenceFloor).value_or(1);
    report.highest_kept = floor > 0 ? floor - 1 : 0;
    if (!pending_.empty()) report.highest_kept = std::max(report.highest_kept, pending_.rbegin()->first);
    if (!failed_.empty()) report.highest_kept = std::max(report.highest_kept, failed_.rbegin()->first);
    const uint64_t top = std::max(report.highest_kept, acknowledged.value_or(0));
    report.next_sequence = top + 1;
    // The gaps between the kept numbers (pending and failed, in order), from the floor to top.
    std::vector<uint64_t> kept;
    for (const auto& [seq, value] : pending_) kept.push_back(seq);
    for (const auto& [seq, value] : failed_) kept.push_back(seq);
    std::sort(kept.begin(), kept.end());
    kept.push_back(top + 1);
    uint64_t next = std::max<uint64_t>(floor, 1);
    for (uint64_t seq : kept) {
      if (seq > next) report.missing.emplace_back(next, seq - 1);
      next = std::max(next, seq + 1);
    }
    return report;
  }

  // Everything kept, into the families of a new spool; the sequence floor set to `next`. What
  // the kept records imply is written anew rather than copied: the counters (the damaged spool's
  // counted what was lost too) and the expiry index.
  void WriteTo(rocksdb::WriteBatch& batch, const std::vector<rocksdb::ColumnFamilyHandle*>& handles, uint64_t next) const {
    uint64_t pending_bytes = 0;
    for (const auto& [seq, value] : pending_) {
      batch.Put(handles[kIntentsIndex], SequenceKey(seq), value);
      pending_bytes += value.size();
      Result<SpooledIntent> r = DecodeRecord(value);
      if (r.ok() && r->intent.expires_at_ms != 0) batch.Put(handles[kExpiryIndex], ExpiryKey(r->intent.expires_at_ms, seq), "");
    }
    for (const auto& [path, value] : registered_) batch.Put(handles[kRegisteredIndex], path, value);
    for (const auto& [seq, value] : failed_) batch.Put(handles[kFailedIndex], SequenceKey(seq), value);
    for (const auto& [key, value] : meta_) {
      // The new spool's own format version and counters.
      if (key != kMetaFormatVersion && CounterWidth(key) == 0) batch.Put(handles[kMetaIndex], key, value);
    }
    batch.Put(handles[kMetaIndex], kMetaPending, EncodeCounter({pending_.size(), pending_bytes}));
    batch.Put(handles[kMetaIndex], kMetaRegisteredCount, EncodeCounter({registered_.size()}));
    batch.Put(handles[kMetaIndex], kMetaFailedCount, EncodeCounter({failed_.size()}));
    batch.Put(handles[kMetaIndex], kMetaExpiredCount, EncodeCounter({MetaU64(kMetaExpiredCount).value_or(0)}));
    batch.Put(handles[kMetaIndex], kMetaSequenceFloor, EncodeU64(next));
  }

  std::optional<uint64_t> MetaU64(std::string_view key) const {
    auto it = meta_.find(std::string(key));
    if (it == meta_.end()) return std::nullopt;
    Result<uint64_t> v = DecodeU64(it->second, key);
    return v.ok() ? std::optional<uint64_t>(*v) : std::nullopt;
  }

 private:
  static bool MetaValueReads(const std::string& key, const std::string& value) {
    if (key == kMetaFormatVersion || key == kMetaSequenceFloor) return DecodeU64(value, key).ok();
    if (size_t width = CounterWidth(key)) return DecodeCounter(value, key, width).ok();
    if (key == kMetaSession) return DecodeSession(value).ok();
    if (key == kMetaOwnedSessions) return DecodeSessionIds(value).ok();
    return true;  // a key this build does not use is kept as it is
  }

  std::map<uint64_t, std::string> pending_;
  std::map<std::string, std::string> registered_;
  std::map<uint64_t, std::string> failed_;
  std::map<std::string, std::string> meta_;
  std::vector<std::string> lost_;
};

// Replays a write batch from a log onto the salvage, column family ids mapped to our families.
class Replay : public rocksdb::WriteBatch::Handler {
 public:
  Replay(Salvage& salvage, const std::map<uint32_t, size_t>& families) : salvage_(salvage), families_(families) {}
  rocksdb::Status PutCF(uint32_t id, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
    if (auto it = families_.find(id); it != families_.end()) salvage_.Keep(it->second, key.ToStringView(), value.ToStringView());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t id, const rocksdb::Slice& key) override {
    if (auto it = families_.find(id); it != families_.end()) salvage_.Forget(it->second, key.ToStringView());
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(uint32_t id, const rocksdb::Slice& key) override { return DeleteCF(id, key); }
  // Counter deltas: the counters are written anew from what is kept (Salvage::WriteTo).
  rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return rocksdb::Status::OK();
  }

 private:
  Salvage& salvage_;
  const std::map<uint32_t, size_t>& families_;
};

// Locks the spool's LOCK file as RocksDB does (fcntl), for reading, until the returned descriptor
// is closed: salvage copies the files one by one, so an owner still running would change them
// under the copy, and one starting meanwhile is kept out. -1 when there is no LOCK file. The
// LOCK is never opened again in this process, which would drop the lock (ScratchCopy skips it).
Result<int> LockAtRest(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  }
  struct flock lock {};
  lock.l_type = F_RDLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &lock) == 0) return fd;
  const int error = errno;
  ::close(fd);
  if (error != EACCES && error != EAGAIN) return Status::IOError("cannot lock " + path + ": " + std::strerror(error));
  const std::string owner = ReadOwner(dir);
  return Status::SpoolInUse("spool " + dir + " is in use by another process" + (owner.empty() ? "" : " (" + owner + ")") +
                            ": stop its owner first; salvage reads a spool at rest");
}

// A private copy of the damaged spool's files, so that nothing here can change them, with a
// CURRENT that names the newest MANIFEST if its own is gone or damaged.
Result<std::string> ScratchCopy(const std::string& damaged, Salvage& salvage) {
  std::error_code ec;
  std::string scratch = (fs::temp_directory_path(ec) / "zkspool-salvage-XXXXXX").string();
  if (ec || ::mkdtemp(scratch.data()) == nullptr) return Status::IOError("cannot create a scratch directory in $TMPDIR");
  std::string newest_manifest;
  for (const fs::directory_entry& entry : fs::directory_iterator(damaged, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "LOCK") continue;
    fs::copy_file(entry.path(), fs::path(scratch) / name, ec);
    if (ec) {
      Status failed = Status::IOError("cannot copy " + entry.path().string() + " to " + scratch + ": " + ec.message());
      fs::remove_all(scratch, ec);  // a full $TMPDIR must not stay full
      return failed;
    }
    if (name.starts_with("MANIFEST-") && name > newest_manifest) newest_manifest = name;
  }
  if (ec) return Status::IOError("cannot read " + damaged + ": " + ec.message());
  std::string current;
  rocksdb::ReadFileToString(rocksdb::FileSystem::Default().get(), scratch + "/CURRENT", &current).PermitUncheckedError();
  if (!current.empty() && current.back() == '\n') current.pop_back();
  if ((current.empty() || !fs::exists(fs::path(scratch) / current)) && !newest_manifest.empty()) {
    salvage.Lose("CURRENT: " + (current.empty() ? std::string("missing") : "names " + current + ", which is not there") +
                 "; read " + newest_manifest + " instead");
    rocksdb::WriteStringToFile(rocksdb::FileSystem::Default().get(), newest_manifest + "\n", scratch + "/CURRENT", true)
        .PermitUncheckedError();
  }
  return scratch;
}

// What RocksDB itself still reads of the tables and logs, checksums off: each record's own CRC
// decides. Returns the column family ids by our family index and the lowest log still needed.
void ReadTables(const std::string& scratch, Salvage& salvage, std::map<uint32_t, size_t>& ids, uint64_t& min_log) {
  rocksdb::DBOptions options;
  options.paranoid_checks = false;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
  options.info_log = RocksLoggerTo(Quiet());
  const std::vector<rocksdb::ColumnFamilyDescriptor> ours = SpoolFamilies(rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < ours.size(); ++i) ids[static_cast<uint32_t>(i)] = i;  // as a spool creates them
  // The families the MANIFEST still lists, with the index of each among ours.
  std::vector<std::string> names;
  rocksdb::DB::ListColumnFamilies(options, scratch, &names).PermitUncheckedError();
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<size_t> index;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (i == kDefaultIndex || std::find(names.begin(), names.end(), ours[i].name) != names.end()) {
      families.push_back(ours[i]);
      index.push_back(i);
    } else {
      salvage.Lose(std::string("column family ") + ours[i].name + ": not in the MANIFEST; only the logs are read for it");
    }
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, scratch, families, &handles, &raw);
  if (!s.ok()) {
    salvage.Lose("tables: RocksDB cannot open them (" + s.ToString() + "); only the logs are read");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < handles.size(); ++i) ids[handles[i]->GetID()] = index[i];
  db->GetIntProperty(rocksdb::DB::Properties::kMinLogNumberToKeep, &min_log);
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;  // each record's own checksum decides what is kept
  ro.fill_cache = false;
  for (size_t i = 0; i < handles.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      salvage.Keep(index[i], it->key().ToStringView(), it->value().ToStringView());
    }
    if (!it->status().ok()) {
      salvage.Lose(fmt::format("{}: reading stopped early: {}", families[i].name, it->status().ToString()));
    }
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
}

// Every write batch that still reads in the logs RocksDB would replay, also past damage, in log
// order: the last write of a key wins, as in RocksDB's own recovery.
void ReplayLogs(const std::string& scratch, uint64_t min_log, const std::map<uint32_t, size_t>& ids, Salvage& salvage) {
  std::map<uint64_t, std::string> logs;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(scratch, ec)) {
    std::string name = entry.path().filename().string();
    if (std::optional<uint64_t> n = LogNumber(name); n && *n >= min_log) logs[*n] = name;
  }
  Replay replay(salvage, ids);
  for (const auto& [number, name] : logs) {
    Result<LogScan> scan = ScanLogFile(*rocksdb::FileSystem::Default(), scratch + "/" + name, [&](std::string_view record) {
      rocksdb::WriteBatch batch{std::string(record)};
      batch.Iterate(&replay).PermitUncheckedError();
    });
    if (!scan.ok()) {
      salvage.Lose(name + ": " + scan.status().message());
    } else if (scan->damage_at) {
      salvage.Lose(fmt::format("{}: {} at byte {} of {}; what was written there is lost", name, scan->damage,
                               *scan->damage_at, scan->size));
    }
  }
}

Status CheckTarget(const std::string& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) return Status::Ok();
  if (!fs::is_directory(target, ec) || !fs::is_empty(target, ec)) {
    return Status::NotASpool("salvage target " + target + " exists and is not an empty directory");
  }
  return Status::Ok();
}

Status WriteTarget(const std::string& target, const Salvage& salvage, uint64_t next) {
  SpoolOptions options;
  options.logger = Quiet();
  {
    Result<std::unique_ptr<Spool>> created = Spool::Open(target, options);
    if (!created.ok()) return created.status();
  }
  rocksdb::DBOptions db_options;
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(PrivateFileSystem(rocksdb::FileSystem::Default()));
  db_options.env = env.get();
  db_options.info_log = RocksLoggerTo(options.logger);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, target, SpoolFamilies(rocksdb::ColumnFamilyOptions()), &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open the new spool " + target);
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteBatch batch;
  salvage.WriteTo(batch, handles, next);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  s = db->Write(sync, &batch);
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  if (s.ok()) s = db->Close();
  if (!s.ok()) return FromRocks(s, "write the new spool " + target);
  db.reset();
  // Opened once more the usual way: the new spool passes every check and records its evidence.
  Result<std::unique_ptr<Spool>> reopened = Spool::Open(target, options);
  return reopened.status();
}

}  // namespace

Result<SalvageReport> SalvageSpool(const std::string& damaged, const std::string& target, bool dry_run) {
  std::error_code ec;
  if (!fs::exists(damaged, ec)) return Status::NotFound("spool directory " + damaged + " does not exist");
  if (!fs::is_directory(damaged, ec)) return Status::NotASpool(damaged + " is not a directory");
  if (Status s = CheckTarget(target); !s.ok()) return s;
  // A FIFO at HIGHWATER hung the salvage, a link to /dev/zero ran it out of memory.
  if (Status s = CheckSpoolEntries(damaged); !s.ok()) return s;
  Result<int> lock = LockAtRest(damaged);
  if (!lock.ok()) return lock.status();
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) ::close(fd);
    }
  } unlock{*lock};

  Salvage salvage;
  Result<std::optional<Highwater>> mark = ReadHighwater(*rocksdb::FileSystem::Default(), damaged);
  if (!mark.ok()) salvage.Lose(mark.status().message());
  Result<std::string> scratch = ScratchCopy(damaged, salvage);
  if (!scratch.ok()) return scratch.status();
  std::map<uint32_t, size_t> ids;
  uint64_t min_log = 0;
  ReadTables(*scratch, salvage, ids, min_log);
  ReplayLogs(*scratch, min_log, ids, salvage);
  fs::remove_all(*scratch, ec);

  if (std::optional<uint64_t> version = salvage.MetaU64(kMetaFormatVersion); version && *version > kSpoolFormatVersion) {
    return Status::NewerFormat(fmt::format("spool {} has format version {}; this build supports up to {}", damaged,
                                           *version, kSpoolFormatVersion));
  }
  SalvageReport report = salvage.Report(mark.ok() && *mark ? std::optional<uint64_t>((*mark)->acknowledged) : std::nullopt);
  if (dry_run) return report;
  if (Status s = WriteTarget(target, salvage, report.next_sequence); !s.ok()) return s;
  report.written = true;
  return report;
}

}  // namespace zkspool
