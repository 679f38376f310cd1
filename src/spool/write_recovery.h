// Writes to the spool's database, and the way back after one failed. After a failed write RocksDB
// refuses every later write until it is resumed.
//
// A full disk is resumed by RocksDB's own recovery, with two changes. Left as it is, RocksDB
// waits until the free space reaches its largest memtable size (it "reserves a disk buffer"): on
// a small or nearly full file system, appends kept failing after space returned, until a
// restart. So its SstFileManager here sees "enough" as soon as any byte is free
// (AnySpaceIsEnough). And it retries every 5 s; here every second (RetryEverySecondClock).
//
// Why not DB::Resume from the next write, as before: in RocksDB 7.8 a flush thread scheduled
// just before the write failed finds the database stopped, returns without taking its request
// off the queue, and the request is never scheduled again. Resume then waits forever for that
// flush (it hung the agent's appends on a busy host, 5 runs in 20). Automatic recovery marks
// the database "recovering" in the same step that stops it, so that flush thread goes ahead.
//
// RocksDB does not retry other errors (an I/O error, damage), and gives up on a full disk when
// a retry fails some other way: then the next write resumes the database itself (for a full
// disk, once any space is free). Until a write works again every write reports the first failure.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/logger.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace zkspool {

class WriteRecovery {
 public:
  WriteRecovery(std::string dir, std::shared_ptr<spdlog::logger> log) : dir_(std::move(dir)), log_(std::move(log)) {}

  // Sets up `options` (whose env must be set) for the recovery described above: a listener that
  // leaves only a full disk to RocksDB, and an SstFileManager for which any free space is enough.
  static void Configure(rocksdb::DBOptions& options);

  // db->Write, resuming the database first if an earlier write failed and RocksDB is not
  // already resuming it. Thread-safe.
  rocksdb::Status Write(rocksdb::DB& db, const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch);

 private:
  bool MayResume(rocksdb::DB& db) const;

  const std::string dir_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::optional<rocksdb::Status> error_;  // the first failure, while writes are refused
};

}  // namespace zkspool
