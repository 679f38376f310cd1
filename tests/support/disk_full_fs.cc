#include "support/disk_full_fs.h"

namespace zkspool::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

class FillableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FillableFile(std::unique_ptr<rocksdb::FSWritableFile> file, DiskFullFs* fs)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* d) override {
    return fs_->full() ? fs_->Refuse() : target()->Append(data, o, d);
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo&,
                  IODebugContext* d) override {
    return Append(data, o, d);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o, IODebugContext* d) override {
    return fs_->full() ? fs_->Refuse() : target()->PositionedAppend(data, offset, o, d);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo&, IODebugContext* d) override {
    return PositionedAppend(data, offset, o, d);
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* d) override {
    return fs_->full() ? fs_->Refuse() : target()->Flush(o, d);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    return fs_->full() ? fs_->Refuse() : target()->Sync(o, d);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    return fs_->full() ? fs_->Refuse() : target()->Fsync(o, d);
  }

 private:
  DiskFullFs* fs_;
};

}  // namespace

IOStatus DiskFullFs::Refuse() {
  ++refused_;
  return IOStatus::NoSpace("simulated full disk: No space left on device");
}

IOStatus DiskFullFs::GetFreeSpace(const std::string& path, const IOOptions& o, uint64_t* free, IODebugContext* d) {
  if (full()) {
    *free = 0;
    return IOStatus::OK();
  }
  if (free_when_not_full_ != UINT64_MAX) {
    *free = free_when_not_full_;
    return IOStatus::OK();
  }
  return target()->GetFreeSpace(path, o, free, d);
}

IOStatus DiskFullFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                     std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) {
  if (full()) return Refuse();
  IOStatus s = target()->NewWritableFile(f, o, r, d);
  if (s.ok()) *r = std::make_unique<FillableFile>(std::move(*r), this);
  return s;
}

IOStatus DiskFullFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) {
  if (full()) return Refuse();
  IOStatus s = target()->ReopenWritableFile(f, o, r, d);
  if (s.ok()) *r = std::make_unique<FillableFile>(std::move(*r), this);
  return s;
}

}  // namespace zkspool::testing
