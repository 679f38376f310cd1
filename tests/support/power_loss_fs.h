// A RocksDB FileSystem that can simulate a power cut: everything written since the last sync is
// discarded, as the disk would lose it.
//
// The model: bytes appended to a file are durable once the file is Sync'd or Fsync'd (RangeSync
// is not durability); a file created through this file system exists after a cut only if its
// directory was fsync'd after the creation. Renames and deletions are taken as durable at once
// (lenient: RocksDB fsyncs the directory right after each of them anyway).
#pragma once

#include <rocksdb/file_system.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace zkspool::testing {

class PowerLossFs : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());

  static const char* kClassName() { return "PowerLossFs"; }
  const char* Name() const override { return kClassName(); }

  // From now on every write, sync, create, rename and delete fails with an I/O error: the machine
  // is off. Reads still work.
  void Cut();
  // Makes the disk look as it would after the cut: unsynced tails truncated, files whose
  // directory entry was never synced removed. Call after the DB using this file system is closed.
  void DropUnsyncedData();
  // Number of bytes DropUnsyncedData discarded, over all calls.
  uint64_t bytes_dropped() const;

  // Called by the wrappers; not for tests.
  struct FileState {
    uint64_t size = 0;
    uint64_t synced_size = 0;
    bool entry_durable = false;
  };
  bool cut() const;
  void OnAppend(const std::string& name, uint64_t new_size);
  void OnSync(const std::string& name);
  void OnDirSync(const std::string& dir);

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* r, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;

 private:
  mutable std::mutex mu_;
  bool cut_ = false;
  std::map<std::string, FileState> files_;  // files written since this object was made
  uint64_t bytes_dropped_ = 0;
};

}  // namespace zkspool::testing
