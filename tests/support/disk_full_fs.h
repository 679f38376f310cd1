// A RocksDB FileSystem that runs out of space on demand: while full, every write, sync and file
// creation fails with ENOSPC (IOStatus::NoSpace) and free space is 0, the way a real full disk
// answers. Reads work.
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace zkspool::testing {

class DiskFullFs : public rocksdb::FileSystemWrapper {
 public:
  explicit DiskFullFs(std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default())
      : FileSystemWrapper(std::move(base)) {}

  static const char* kClassName() { return "DiskFullFs"; }
  const char* Name() const override { return kClassName(); }

  void SetFull(bool full) { full_ = full; }
  // What GetFreeSpace reports while not full; by default the real disk's free space. A small
  // value is a disk where space returned, but not much of it.
  void SetFreeBytesWhenNotFull(uint64_t bytes) { free_when_not_full_ = bytes; }
  bool full() const { return full_; }
  // Writes refused since construction.
  int refused() const { return refused_; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override;

  // A full disk also reports no free space, which RocksDB's own recovery waits on (without it,
  // RocksDB retries while still full and gives up for good, which a real full disk never makes
  // it do).
  rocksdb::IOStatus GetFreeSpace(const std::string& path, const rocksdb::IOOptions& o, uint64_t* free,
                                 rocksdb::IODebugContext* d) override;

  // Counts and returns the error a full disk gives.
  rocksdb::IOStatus Refuse();

 private:
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> free_when_not_full_{UINT64_MAX};  // UINT64_MAX: the real disk's
  std::atomic<int> refused_{0};
};

}  // namespace zkspool::testing
