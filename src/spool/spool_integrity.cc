#include "spool/spool_integrity.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rocksdb/file_system.h>
#include <rocksdb/metadata.h>
#include <rocksdb/sst_file_reader.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "spool/log_scan.h"
#include "spool/meta_codec.h"
#include "spool/sequence_key.h"
#include "spool/spool_directory.h"
#include "spool/spool_schema.h"

namespace zkspool {
namespace {

// "000012.log" -> 12 for files named <digits><suffix>.
std::optional<uint64_t> FileNumber(std::string_view name, std::string_view prefix, std::string_view suffix) {
  if (!name.starts_with(prefix) || !name.ends_with(suffix) || name.size() <= prefix.size() + suffix.size()) {
    return std::nullopt;
  }
  std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

Status CheckFamilies(rocksdb::Env& env, const std::string& dir) {
  rocksdb::DBOptions options;
  options.env = &env;
  std::vector<std::string> found;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &found);
  if (!s.ok()) {
    // CURRENT naming a MANIFEST that is not there is damage too, not a failing disk.
    if (s.IsCorruption() || s.IsPathNotFound() || s.ToString().find("No such file") != std::string::npos) {
      return Status::Corruption("spool " + dir + ": cannot read its column families from CURRENT and the MANIFEST: " +
                                s.ToString());
    }
    return Status::IOError("spool " + dir + ": cannot read its column families: " + s.ToString());
  }
  std::set<std::string> ours, theirs(found.begin(), found.end());
  for (const rocksdb::ColumnFamilyDescriptor& family : SpoolFamilies(rocksdb::ColumnFamilyOptions())) {
    ours.insert(family.name);
  }
  if (theirs == ours) return Status::Ok();
  // A spool of format 1 had every family but the expiry index, which Open adds (and fills).
  std::set<std::string> format1 = ours;
  format1.erase(kExpiryFamily);
  if (theirs == format1) return Status::Ok();
  if (std::includes(ours.begin(), ours.end(), theirs.begin(), theirs.end())) {
    // A spool whose first Open was cut short between creating its families is completed by the
    // next one; a spool that was whole and lost a family lost the records that made it.
    if (!SpoolMarkedCreated(dir)) return Status::Ok();
    std::vector<std::string> missing;
    std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(), std::back_inserter(missing));
    return Status::Corruption(fmt::format("spool {} has lost its column families {}: its MANIFEST lost records", dir,
                                          fmt::join(missing, ", ")));
  }
  return Status::NotASpool(fmt::format("{} is not a spool: its database has the column families {}, a spool exactly {}",
                                       dir, fmt::join(theirs, ", "), fmt::join(ours, ", ")));
}

std::string DescribeDamage(const std::string& path, const LogScan& scan) {
  return fmt::format("{} is damaged at byte {} of {} ({})", path, *scan.damage_at, scan.size, scan.damage);
}

// A log must read without a hole, and at least as far as `synced_size` when that is known. A
// damaged tail is noted in `torn`.
Status CheckLog(rocksdb::FileSystem& fs, const std::string& path, std::optional<uint64_t> synced_size,
                std::string& torn) {
  Result<LogScan> scan = ScanLogFile(fs, path);
  if (!scan.ok()) {
    // A log the live owner removed after we listed it (a reader beside it) has nothing to check.
    if (!fs.FileExists(path, rocksdb::IOOptions(), nullptr).ok()) return Status::Ok();
    return scan.status();
  }
  if (scan->damage_at && scan->valid_after) {
    return Status::Corruption(DescribeDamage(path, *scan) + ", and valid records follow at byte " +
                              std::to_string(*scan->valid_after) + ": not a write cut short by a crash");
  }
  if (synced_size && scan->valid_end < *synced_size) {
    return Status::Corruption(fmt::format("{} reads only to byte {} but {} bytes of it were synced (HIGHWATER){}", path,
                                          scan->valid_end, *synced_size,
                                          scan->damage_at ? ": " + scan->damage + " there" : ": it was cut short"));
  }
  if (scan->damage_at) {
    torn += fmt::format("{}{} ends in {} at byte {} of {}", torn.empty() ? "" : "; ", path, scan->damage,
                        *scan->damage_at, scan->size);
  }
  return Status::Ok();
}

Status CheckManifest(rocksdb::FileSystem& fs, const std::string& dir, const std::optional<Highwater>& mark,
                     std::string& torn) {
  std::string current;
  rocksdb::IOStatus s = rocksdb::ReadFileToString(&fs, dir + "/CURRENT", &current);
  if (!s.ok()) return Status::IOError("cannot read " + dir + "/CURRENT: " + s.ToString());
  if (!current.empty() && current.back() == '\n') current.pop_back();
  std::optional<uint64_t> number = FileNumber(current, "MANIFEST-", "");
  if (!number) return Status::Corruption(dir + "/CURRENT is damaged: it does not name a MANIFEST file");
  std::optional<uint64_t> synced;
  if (mark && *number < mark->manifest_number) {
    return Status::Corruption(fmt::format("{}/CURRENT names {}, older than MANIFEST-{:06} that the spool last used", dir,
                                          current, mark->manifest_number));
  }
  if (mark && *number == mark->manifest_number) synced = mark->manifest_size;
  return CheckLog(fs, dir + "/" + current, synced, torn);
}

std::vector<std::string> WriteAheadLogs(rocksdb::FileSystem& fs, const std::string& dir) {
  std::vector<std::string> names, logs;
  fs.GetChildren(dir, rocksdb::IOOptions(), &names, nullptr).PermitUncheckedError();
  for (const std::string& name : names) {
    if (FileNumber(name, "", ".log")) logs.push_back(name);
  }
  std::sort(logs.begin(), logs.end());
  return logs;
}

}  // namespace

Result<OpenEvidence> CheckBeforeOpen(rocksdb::Env& env, const std::string& dir) {
  rocksdb::FileSystem& fs = *env.GetFileSystem();
  OpenEvidence evidence;
  if (!fs.FileExists(dir + "/CURRENT", rocksdb::IOOptions(), nullptr).ok()) return evidence;
  if (Status s = CheckFamilies(env, dir); !s.ok()) return s;
  // HIGHWATER before CURRENT: a live owner rewrites it only after moving to a new MANIFEST, so
  // read in this order the MANIFEST is never older than the evidence.
  Result<std::optional<Highwater>> mark = ReadHighwater(fs, dir);
  if (!mark.ok()) return mark.status();
  evidence.mark = *mark;
  if (!evidence.mark && SpoolMarkedCreated(dir)) {
    return Status::Corruption("spool " + dir + " has lost its " + kHighwaterFile +
                              " file, the evidence of what it acknowledged");
  }
  if (Status s = CheckManifest(fs, dir, evidence.mark, evidence.torn_tails); !s.ok()) return s;
  for (const std::string& log : WriteAheadLogs(fs, dir)) {
    if (Status s = CheckLog(fs, dir + "/" + log, std::nullopt, evidence.torn_tails); !s.ok()) return s;
  }
  return evidence;
}

Status OpenFailure(const rocksdb::Status& s, const std::string& context, const OpenEvidence& evidence) {
  if (s.IsCorruption() && !evidence.torn_tails.empty()) {
    return Status::Corruption(context + ": " + s.ToString() + " (" + evidence.torn_tails + ")");
  }
  return FromRocks(s, context);
}

Result<uint64_t> RecoveredSequence(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* intents,
                                   rocksdb::ColumnFamilyHandle* meta, rocksdb::ColumnFamilyHandle* failed) {
  uint64_t top = 0;
  std::string value;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta, kMetaSequenceFloor, &value);
  if (s.ok()) {
    Result<uint64_t> floor = DecodeU64(value, kMetaSequenceFloor);
    if (!floor.ok()) return floor.status();
    top = *floor > 0 ? *floor - 1 : 0;
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read the sequence floor");
  }
  for (rocksdb::ColumnFamilyHandle* family : {intents, failed}) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), family));
    it->SeekToLast();
    if (it->Valid()) {
      std::optional<uint64_t> seq = ParseSequenceKey(it->key().ToStringView());
      if (!seq) return Status::Corruption("the last key of column family " + family->GetName() + " is not a sequence number");
      top = std::max(top, *seq);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "read the last key of " + family->GetName());
  }
  return top;
}

Status CheckRecovered(rocksdb::Env& env, const std::string& dir, const OpenEvidence& evidence, uint64_t recovered) {
  if (!evidence.mark || recovered >= evidence.mark->acknowledged) return Status::Ok();
  std::vector<std::string> logs = WriteAheadLogs(*env.GetFileSystem(), dir);
  return Status::Corruption(fmt::format(
      "spool {} acknowledged intents up to sequence number {} (HIGHWATER), but its log and tables hold only up to {}: "
      "acknowledged intents were lost ({})",
      dir, evidence.mark->acknowledged, recovered,
      !evidence.torn_tails.empty() ? evidence.torn_tails
      : logs.empty()               ? std::string("no write-ahead log is left")
                                   : fmt::format("write-ahead log {}", fmt::join(logs, ", "))));
}

std::string TableName(uint64_t number) { return fmt::format("{:06}.sst", number); }

Status CheckTableFiles(rocksdb::DB& db, const std::string& dir, const std::optional<Highwater>& mark, bool every_block) {
  std::vector<rocksdb::LiveFileMetaData> live;
  db.GetLiveFilesMetaData(&live);
  std::set<std::string> paths;
  for (const rocksdb::LiveFileMetaData& table : live) paths.insert(table.directory + "/" + table.relative_filename);
  if (mark) {
    for (uint64_t number : mark->tables) paths.insert(dir + "/" + TableName(number));
  }
  rocksdb::Options options;
  options.env = db.GetEnv();
  for (const std::string& path : paths) {
    rocksdb::SstFileReader reader(options);
    rocksdb::Status s = reader.Open(path);
    if (s.ok() && every_block) s = reader.VerifyChecksum();
    if (s.ok() || s.IsPathNotFound() || !db.GetEnv()->FileExists(path).ok()) continue;
    return Status::Corruption("table file " + path + " is damaged: " + s.ToString());
  }
  return Status::Ok();
}

Result<Highwater> CurrentHighwater(rocksdb::DB& db, uint64_t acknowledged) {
  std::vector<std::string> files;
  Highwater mark;
  mark.acknowledged = acknowledged;
  rocksdb::Status s = db.GetLiveFiles(files, &mark.manifest_size, /*flush_memtable=*/false);
  if (!s.ok()) return Status::IOError("list the live files: " + s.ToString());
  for (const std::string& file : files) {
    std::string_view name = file;
    if (name.starts_with("/")) name.remove_prefix(1);
    if (std::optional<uint64_t> n = FileNumber(name, "MANIFEST-", "")) mark.manifest_number = *n;
    if (std::optional<uint64_t> n = FileNumber(name, "", ".sst")) mark.tables.push_back(*n);
  }
  std::sort(mark.tables.begin(), mark.tables.end());
  return mark;
}

}  // namespace zkspool
