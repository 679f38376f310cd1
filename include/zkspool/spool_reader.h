// A read-only view of a spool that another process may own and keep writing: what zkspoolctl
// and monitoring read. It never takes the spool's lock, never writes to the spool's directory,
// and never blocks or slows the owner: it opens the database as a RocksDB secondary instance
// (its own small bookkeeping lives in a private temp directory, removed on destruction).
//
// A reader sees the spool as of Open or the last CatchUp. Between them the owner may apply,
// expire or compact; a reader whose files were compacted away reports kIOError and should be
// reopened.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zkspool/intent.h"
#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

// One record (or file) that failed its checks.
struct VerifyProblem {
  std::string family;   // "intents", "registered", "failed", "meta", or "files" for a damaged file
  std::string key;      // printable: a sequence number, a path, a meta key; hex if not printable
  std::string message;  // what is wrong with it
};

struct VerifyReport {
  uint64_t records_checked = 0;
  uint64_t problems = 0;
};

// Thread-safety: const member functions may be called concurrently; CatchUp must not run
// concurrently with anything else on the same reader.
class SpoolReader {
 public:
  // Opens the spool in `dir` for reading while its owner (if any) keeps running.
  // Errors:
  //   kNotFound        `dir` does not exist
  //   kNotASpool       `dir` is not a directory, or not a spool (no ZKSPOOL marker, no
  //                    database, or not exactly the spool's column families)
  //   kNewerFormat     the spool was written by a newer format version
  //   kCorruption      damage, as Spool::Open checks it (log records, MANIFEST, HIGHWATER,
  //                    CURRENT, column families; the table blocks only in Verify)
  //   kIOError         anything else (e.g. no temp directory, permissions)
  static Result<std::unique_ptr<SpoolReader>> Open(const std::string& dir);

  // Closes the secondary instance and removes its temp directory.
  ~SpoolReader();

  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;

  // Catches up with what the owner has written since Open. Errors: kCorruption, kIOError.
  Status CatchUp();

  // As Spool::ReadPending: up to `max_count` pending intents with seq >= from_seq, in sequence
  // order. Errors: kCorruption (names the key), kNewerFormat, kIOError.
  Result<std::vector<SpooledIntent>> ReadPending(uint64_t from_seq, size_t max_count) const;
  // As Spool::ReadRegistered: up to `max_count` registered nodes with path > after_path.
  // Errors: kCorruption (names the path), kNewerFormat, kIOError.
  Result<std::vector<SpooledIntent>> ReadRegistered(std::string_view after_path, size_t max_count) const;
  // As Spool::ReadFailed. Errors: kCorruption, kIOError.
  Result<std::vector<FailedIntent>> ReadFailed(uint64_t from_seq, size_t max_count) const;

  // The id of the current ZooKeeper session, if one was saved. The password is deliberately not
  // offered. Errors: kCorruption, kNewerFormat, kIOError.
  Result<std::optional<int64_t>> SessionId() const;
  // Ids of every session the spool has owned, oldest first. Errors: kCorruption, kIOError.
  Result<std::vector<int64_t>> OwnedSessions() const;

  // Counts by a full scan (the reader has no in-memory counters); oldest_pending_age is measured
  // against `now_ms` (Unix milliseconds). Errors: kCorruption, kIOError.
  Result<SpoolStats> Stats(int64_t now_ms) const;

  // Total size in bytes of the files in the spool's directory (not recursive). Never fails:
  // files that vanish while it looks (the owner compacting) count as zero.
  uint64_t DiskBytes() const;

  // Reads every record of every column family and checks it: RocksDB's block checksums, each
  // record's CRC and format, that each key matches its record, every meta value; then every
  // block of every table file (a damaged one is reported with family "files"). Calls
  // `on_problem` for each bad record (a damaged block stops that family's scan and is reported
  // once), and `on_progress` with the running count of records checked every 4096 records.
  // Returns the totals; a report with problems is still OK.
  // Errors: kIOError when reading fails for a reason other than damage.
  Result<VerifyReport> Verify(const std::function<void(const VerifyProblem&)>& on_problem,
                              const std::function<void(uint64_t)>& on_progress = {}) const;

  const std::string& dir() const;

 private:
  struct Impl;
  explicit SpoolReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zkspool
