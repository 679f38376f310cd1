// A RocksDB FileSystem that runs a test's hook before every Append to the writable files it
// picks: to stall the writes of one thread or one kind of file, or to fail them, while every
// other call goes to the real file system.
#pragma once

#include <rocksdb/file_system.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace zkspool::testing {

class AppendHookFs : public rocksdb::FileSystemWrapper {
 public:
  // Whether a writable file being created (by its name) gets the hook.
  using Picker = std::function<bool(const std::string& file)>;
  // Runs in the appending thread before each Append to a picked file; a status that is not OK
  // fails that Append with it (and the data is not written).
  using Hook = std::function<rocksdb::IOStatus()>;

  AppendHookFs(Picker picks, Hook before_append,
               std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default())
      : FileSystemWrapper(std::move(base)), picks_(std::move(picks)), before_append_(std::move(before_append)) {}

  const char* Name() const override { return "AppendHookFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, d);
    if (s.ok() && picks_(f)) *r = std::make_unique<HookedFile>(std::move(*r), before_append_);
    return s;
  }

 private:
  class HookedFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    HookedFile(std::unique_ptr<rocksdb::FSWritableFile> f, Hook hook)
        : FSWritableFileOwnerWrapper(std::move(f)), hook_(std::move(hook)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (rocksdb::IOStatus s = hook_(); !s.ok()) return s;
      return target()->Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo&, rocksdb::IODebugContext* d) override {
      return Append(data, o, d);
    }

   private:
    const Hook hook_;
  };

  const Picker picks_;
  const Hook before_append_;
};

}  // namespace zkspool::testing
