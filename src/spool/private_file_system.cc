#include "spool/private_file_system.h"

#include <sys/stat.h>

namespace zkspool {
namespace {

using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

class OwnerOnlyFs : public rocksdb::FileSystemWrapper {
 public:
  explicit OwnerOnlyFs(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}

  static const char* kClassName() { return "ZkspoolOwnerOnlyFs"; }
  const char* Name() const override { return kClassName(); }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& o, std::unique_ptr<rocksdb::FSWritableFile>* r,
                           IODebugContext* d) override {
    return Private(f, target()->NewWritableFile(f, o, r, d));
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& o,
                              std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) override {
    return Private(f, target()->ReopenWritableFile(f, o, r, d));
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const FileOptions& o,
                             std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) override {
    return Private(f, target()->ReuseWritableFile(f, old, o, r, d));
  }
  IOStatus NewRandomRWFile(const std::string& f, const FileOptions& o, std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                           IODebugContext* d) override {
    return Private(f, target()->NewRandomRWFile(f, o, r, d));
  }
  IOStatus NewLogger(const std::string& f, const IOOptions& o, std::shared_ptr<rocksdb::Logger>* r,
                     IODebugContext* d) override {
    return Private(f, target()->NewLogger(f, o, r, d));
  }
  IOStatus LockFile(const std::string& f, const IOOptions& o, rocksdb::FileLock** l, IODebugContext* d) override {
    return Private(f, target()->LockFile(f, o, l, d));
  }

 private:
  // A failed chmod leaves the file as the umask made it, inside the 0700 directory: not worth
  // failing the write for.
  static IOStatus Private(const std::string& file, IOStatus created) {
    if (created.ok()) ::chmod(file.c_str(), 0600);
    return created;
  }
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> PrivateFileSystem(std::shared_ptr<rocksdb::FileSystem> base) {
  return std::make_shared<OwnerOnlyFs>(std::move(base));
}

}  // namespace zkspool
