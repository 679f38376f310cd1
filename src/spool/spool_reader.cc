#include "zkspool/spool_reader.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <spdlog/logger.h>

#include "spool/counters.h"
#include "spool/meta_codec.h"
#include "spool/record_codec.h"
#include "spool/rocks_logger.h"
#include "spool/sequence_key.h"
#include "spool/spool_directory.h"
#include "spool/spool_integrity.h"
#include "spool/spool_schema.h"

namespace zkspool {
namespace fs = std::filesystem;

namespace {

std::string Hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out = "0x";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Paths and meta keys are printed as they are when they are plain text, else as hex, so a
// damaged key never puts control bytes on an operator's terminal.
std::string PrintableKey(std::string_view key) {
  bool printable = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return c >= 0x20 && c < 0x7f;
  });
  return printable ? std::string(key) : Hex(key);
}

std::string SequenceKeyText(std::string_view key) {
  std::optional<uint64_t> seq = ParseSequenceKey(key);
  return seq ? std::to_string(*seq) : Hex(key);
}

}  // namespace

struct SpoolReader::Impl {
  std::string dir;
  std::string secondary_dir;  // our private bookkeeping; removed in the destructor
  std::optional<Highwater> mark;  // HIGHWATER as read at Open
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* intents = nullptr;
  rocksdb::ColumnFamilyHandle* registered = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* failed = nullptr;

  ~Impl() {
    if (db) {
      for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
      db->Close().PermitUncheckedError();
      db.reset();
    }
    if (!secondary_dir.empty()) {
      std::error_code ec;
      fs::remove_all(secondary_dir, ec);
    }
  }

  std::unique_ptr<rocksdb::Iterator> Iterate(rocksdb::ColumnFamilyHandle* family) const {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a full scan by a tool should not evict anything useful
    return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, family));
  }

  Status GetMeta(std::string_view key, std::string& value, bool& found) const {
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, key, &value);
    found = s.ok();
    if (s.ok() || s.IsNotFound()) return Status::Ok();
    return FromRocks(s, "read meta of spool " + dir);
  }

  Result<uint64_t> MetaU64(std::string_view key, uint64_t missing) const {
    std::string value;
    bool found;
    if (Status s = GetMeta(key, value, found); !s.ok()) return s;
    if (!found) return missing;
    return DecodeU64(value, key);
  }

  Status VerifyFamily(rocksdb::ColumnFamilyHandle* family, const char* name,
                    const std::function<Status(std::string_view, std::string_view)>& check,
                    const std::function<std::string(std::string_view)>& key_text,
                    const std::function<void(const VerifyProblem&)>& on_problem,
                    const std::function<void(uint64_t)>& on_progress, VerifyReport& report) const;
};

SpoolReader::SpoolReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SpoolReader::~SpoolReader() = default;

const std::string& SpoolReader::dir() const { return impl_->dir; }

Result<std::unique_ptr<SpoolReader>> SpoolReader::Open(const std::string& dir) {
  if (Status s = CheckSpoolDirectory(dir); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  std::error_code ec;
  std::string pattern = (fs::temp_directory_path(ec) / "zkspool-reader-XXXXXX").string();
  if (ec) return Status::IOError("no temp directory for the secondary instance: " + ec.message());
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::IOError("cannot create " + pattern + ": " + std::strerror(errno));
  }
  impl->secondary_dir = pattern;

  rocksdb::DBOptions options;
  options.max_open_files = -1;  // required by secondary instances
  // RocksDB's lines would only repeat what the returned errors say; and no LOG file (rocks_logger.h).
  options.info_log = RocksLoggerTo(std::make_shared<spdlog::logger>("zkspool-reader"));
  // Exactly the spool's families (checked here) or nothing.
  Result<OpenEvidence> evidence = CheckBeforeOpen(*rocksdb::Env::Default(), dir);
  if (!evidence.ok()) return evidence.status();
  impl->mark = evidence->mark;
  // A spool of format 1 (upgraded by its owner's next Open) has no expiry index, the last family.
  std::vector<rocksdb::ColumnFamilyDescriptor> families = SpoolFamilies(rocksdb::ColumnFamilyOptions());
  std::vector<std::string> names;
  if (rocksdb::DB::ListColumnFamilies(options, dir, &names).ok() &&
      std::find(names.begin(), names.end(), kExpiryFamily) == names.end()) {
    families.pop_back();
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(options, dir, impl->secondary_dir, families, &impl->handles, &raw);
  if (!s.ok()) return OpenFailure(s, "open spool " + dir + " for reading", *evidence);
  impl->db.reset(raw);
  impl->intents = impl->handles[kIntentsIndex];
  impl->registered = impl->handles[kRegisteredIndex];
  impl->meta = impl->handles[kMetaIndex];
  impl->failed = impl->handles[kFailedIndex];
  if (Status st = CheckTableFiles(*impl->db, dir, evidence->mark, /*every_block=*/false); !st.ok()) return st;
  std::string value;
  bool found;
  if (Status st = impl->GetMeta(kMetaFormatVersion, value, found); !st.ok()) return st;
  if (found) {
    if (Status st = CheckFormatVersion(value, dir); !st.ok()) return st;
  }
  Result<uint64_t> recovered = RecoveredSequence(*impl->db, impl->intents, impl->meta, impl->failed);
  if (!recovered.ok()) return recovered.status();
  if (Status st = CheckRecovered(*rocksdb::Env::Default(), dir, *evidence, *recovered); !st.ok()) return st;
  return std::unique_ptr<SpoolReader>(new SpoolReader(std::move(impl)));
}

Status SpoolReader::CatchUp() {
  return FromRocks(impl_->db->TryCatchUpWithPrimary(), "catch up with spool " + impl_->dir);
}

Result<std::vector<SpooledIntent>> SpoolReader::ReadPending(uint64_t from_seq, size_t max_count) const {
  std::unique_ptr<rocksdb::Iterator> it = impl_->Iterate(impl_->intents);
  std::vector<SpooledIntent> out;
  for (it->Seek(SequenceKey(from_seq)); it->Valid() && out.size() < max_count; it->Next()) {
    Result<SpooledIntent> record = DecodePending(it->key(), it->value());
    if (!record.ok()) return record.status();
    out.push_back(std::move(record).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read pending intents of spool " + impl_->dir);
  return out;
}

Result<std::vector<SpooledIntent>> SpoolReader::ReadRegistered(std::string_view after_path, size_t max_count) const {
  std::unique_ptr<rocksdb::Iterator> it = impl_->Iterate(impl_->registered);
  std::vector<SpooledIntent> out;
  for (it->Seek(after_path); it->Valid() && out.size() < max_count; it->Next()) {
    if (it->key().ToStringView() == after_path) continue;
    Result<SpooledIntent> record = DecodeRegistered(it->key().ToStringView(), it->value().ToStringView());
    if (!record.ok()) return record.status();
    out.push_back(std::move(record).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read registered set of spool " + impl_->dir);
  return out;
}

Result<std::vector<FailedIntent>> SpoolReader::ReadFailed(uint64_t from_seq, size_t max_count) const {
  std::unique_ptr<rocksdb::Iterator> it = impl_->Iterate(impl_->failed);
  std::vector<FailedIntent> out;
  for (it->Seek(SequenceKey(from_seq)); it->Valid() && out.size() < max_count; it->Next()) {
    Result<FailedIntent> failed = DecodeFailed(it->value().ToStringView());
    if (!failed.ok()) {
      return Status::Corruption("failed intent " + SequenceKeyText(it->key().ToStringView()) + ": " +
                                failed.status().message());
    }
    out.push_back(std::move(failed).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read failed intents of spool " + impl_->dir);
  return out;
}

Result<std::optional<int64_t>> SpoolReader::SessionId() const {
  std::string value;
  bool found;
  if (Status s = impl_->GetMeta(kMetaSession, value, found); !s.ok()) return s;
  if (!found) return std::optional<int64_t>();
  Result<SessionInfo> session = DecodeSession(value);
  if (!session.ok()) return session.status();
  return std::optional<int64_t>(session->id);
}

Result<std::vector<int64_t>> SpoolReader::OwnedSessions() const {
  std::string value;
  bool found;
  if (Status s = impl_->GetMeta(kMetaOwnedSessions, value, found); !s.ok()) return s;
  if (!found) return std::vector<int64_t>();
  return DecodeSessionIds(value);
}

Result<SpoolStats> SpoolReader::Stats(int64_t now_ms) const {
  const Impl& d = *impl_;
  SpoolStats stats;
  Result<uint64_t> version = d.MetaU64(kMetaFormatVersion, kSpoolFormatVersion);
  if (!version.ok()) return version.status();
  stats.format_version = static_cast<uint32_t>(*version);
  Result<uint64_t> floor = d.MetaU64(kMetaSequenceFloor, 1);
  if (!floor.ok()) return floor.status();
  Result<uint64_t> expired = d.MetaU64(kMetaExpiredCount, 0);
  if (!expired.ok()) return expired.status();
  stats.expired_count = *expired;

  std::optional<uint64_t> last;
  std::unique_ptr<rocksdb::Iterator> it = d.Iterate(d.intents);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (stats.pending_count == 0) {
      Result<SpooledIntent> oldest = DecodePending(it->key(), it->value());
      if (!oldest.ok()) return oldest.status();
      stats.oldest_pending_age = std::chrono::milliseconds(std::max<int64_t>(now_ms - oldest->intent.enqueued_at_ms, 0));
    }
    last = ParseSequenceKey(it->key().ToStringView());
    if (!last) return Status::Corruption("spool " + d.dir + " has an intent key that is not a sequence number");
    ++stats.pending_count;
    stats.pending_bytes += it->value().size();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan intents of spool " + d.dir);
  stats.next_sequence = std::max<uint64_t>(std::max<uint64_t>(*floor, 1), last ? *last + 1 : 1);

  for (auto [family, count] : {std::pair{d.registered, &stats.registered_count}, {d.failed, &stats.failed_count}}) {
    std::unique_ptr<rocksdb::Iterator> scan = d.Iterate(family);
    for (scan->SeekToFirst(); scan->Valid(); scan->Next()) ++*count;
    if (!scan->status().ok()) return FromRocks(scan->status(), "scan spool " + d.dir);
  }
  return stats;
}

uint64_t SpoolReader::DiskBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(impl_->dir, ec)) {
    std::error_code size_ec;
    if (!entry.is_regular_file(size_ec)) continue;
    uintmax_t size = entry.file_size(size_ec);
    if (!size_ec) total += size;
  }
  return total;
}

Status SpoolReader::Impl::VerifyFamily(rocksdb::ColumnFamilyHandle* family, const char* name,
                                     const std::function<Status(std::string_view, std::string_view)>& check,
                                     const std::function<std::string(std::string_view)>& key_text,
                                     const std::function<void(const VerifyProblem&)>& on_problem,
                                     const std::function<void(uint64_t)>& on_progress,
                                     VerifyReport& report) const {
  std::unique_ptr<rocksdb::Iterator> it = Iterate(family);
  std::string last_key;
  bool any = false;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++report.records_checked;
    if (Status s = check(it->key().ToStringView(), it->value().ToStringView()); !s.ok()) {
      ++report.problems;
      on_problem({name, key_text(it->key().ToStringView()), s.message()});
    }
    last_key = it->key().ToString();
    any = true;
    if (on_progress && report.records_checked % 4096 == 0) on_progress(report.records_checked);
  }
  if (it->status().IsCorruption()) {
    // A damaged block hides every record in it: name where the scan stopped.
    ++report.problems;
    on_problem({name, any ? "after " + key_text(last_key) : "(first record)", it->status().ToString()});
  } else if (!it->status().ok()) {
    return FromRocks(it->status(), std::string("verify ") + name + " of spool " + dir);
  }
  return Status::Ok();
}

Result<VerifyReport> SpoolReader::Verify(const std::function<void(const VerifyProblem&)>& on_problem,
                                         const std::function<void(uint64_t)>& on_progress) const {
  const Impl& d = *impl_;
  VerifyReport report;
  auto check_pending = [](std::string_view key, std::string_view value) {
    return DecodePending(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size())).status();
  };
  auto check_registered = [](std::string_view key, std::string_view value) {
    Result<SpooledIntent> record = DecodeRegistered(key, value);
    if (!record.ok()) return record.status();
    if (record->intent.path != key) {
      return Status::Corruption("registered node " + PrintableKey(key) + " holds the record of " +
                                PrintableKey(record->intent.path));
    }
    if (record->intent.op != Op::kPut) return Status::Corruption("registered node holds a delete");
    return Status::Ok();
  };
  auto check_failed = [](std::string_view key, std::string_view value) {
    Result<FailedIntent> failed = DecodeFailed(value);
    if (!failed.ok()) return failed.status();
    std::optional<uint64_t> seq = ParseSequenceKey(key);
    if (!seq || *seq != failed->record.seq) {
      return Status::Corruption("failed key does not match the record's seq " + std::to_string(failed->record.seq));
    }
    return Status::Ok();
  };
  auto check_meta = [&d](std::string_view key, std::string_view value) -> Status {
    if (key == kMetaFormatVersion) return CheckFormatVersion(value, d.dir);
    if (key == kMetaSequenceFloor) return DecodeU64(value, key).status();
    if (size_t width = CounterWidth(key)) return DecodeCounter(value, key, width).status();
    if (key == kMetaSession) return DecodeSession(value).status();
    if (key == kMetaOwnedSessions) return DecodeSessionIds(value).status();
    return Status::Ok();  // a key this build does not use is not damage
  };
  struct Family {
    rocksdb::ColumnFamilyHandle* handle;
    const char* name;
    std::function<Status(std::string_view, std::string_view)> check;
    std::string (*key_text)(std::string_view);
  };
  const Family families[] = {{d.intents, kIntentsFamily, check_pending, SequenceKeyText},
                             {d.registered, kRegisteredFamily, check_registered, PrintableKey},
                             {d.failed, kFailedFamily, check_failed, SequenceKeyText},
                             {d.meta, kMetaFamily, check_meta, PrintableKey}};
  for (const Family& f : families) {
    if (Status s = d.VerifyFamily(f.handle, f.name, f.check, f.key_text, on_problem, on_progress, report); !s.ok()) {
      return s;
    }
  }
  // Every table block, also those of keys no family scan reached (behind a damaged block). A
  // live owner may compact a file away meanwhile; its records were read by the scans above.
  if (Status s = CheckTableFiles(*d.db, d.dir, d.mark, /*every_block=*/true); !s.ok()) {
    ++report.problems;
    on_problem({"files", "", s.message()});
  }
  return report;
}

}  // namespace zkspool
