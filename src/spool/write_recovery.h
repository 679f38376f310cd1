// Writes to the spool's database, and the way back after one failed. After a failed write RocksDB
// refuses every later write until it is resumed. Left to itself, RocksDB resumes from a full disk
// only once the free space reaches the largest memtable size (16 MiB here; its SstFileManager
// "reserves a disk buffer"): on a small or nearly full file system, appends kept failing after
// space returned, until a restart, while the library's test (whose fake disk reported hundreds
// of gigabytes free once "emptied") passed. So RocksDB's automatic recovery is switched off
// (ManualRecovery) and the next write resumes the database itself: for a full disk as soon as
// any space is free, for other errors at once. Until then every write reports the first failure.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
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

  // For DBOptions::listeners: stops RocksDB's own recovery, which Write takes over.
  static std::shared_ptr<rocksdb::EventListener> ManualRecovery();

  // db->Write, resuming the database first if an earlier write failed and the cause may be gone.
  // Thread-safe.
  rocksdb::Status Write(rocksdb::DB& db, const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch);

 private:
  bool MayResume(rocksdb::DB& db) const;

  const std::string dir_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::optional<rocksdb::Status> error_;  // the first failure, while writes are refused
};

}  // namespace zkspool
