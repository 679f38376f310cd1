#include "support/power_loss_fs.h"

#include <filesystem>

namespace zkspool::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus PowerIsOff() { return IOStatus::IOError("simulated power cut"); }

std::string ParentOf(const std::string& path) {
  return std::filesystem::path(path).parent_path().lexically_normal().string();
}

class TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> file, PowerLossFs* fs, std::string name, uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), name_(std::move(name)), size_(size) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = target()->Append(data, o, d);
    if (s.ok()) fs_->OnAppend(name_, size_ += data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo&,
                  IODebugContext* d) override {
    return Append(data, o, d);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = target()->PositionedAppend(data, offset, o, d);
    if (s.ok()) fs_->OnAppend(name_, size_ = std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo&, IODebugContext* d) override {
    return PositionedAppend(data, offset, o, d);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = target()->Truncate(size, o, d);
    if (s.ok()) fs_->OnAppend(name_, size_ = size);
    return s;
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* d) override {
    return fs_->cut() ? PowerIsOff() : target()->Flush(o, d);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = target()->Sync(o, d);
    if (s.ok()) fs_->OnSync(name_);
    return s;
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = target()->Fsync(o, d);
    if (s.ok()) fs_->OnSync(name_);
    return s;
  }
  IOStatus RangeSync(uint64_t offset, uint64_t n, const IOOptions& o, IODebugContext* d) override {
    return fs_->cut() ? PowerIsOff() : target()->RangeSync(offset, n, o, d);
  }
  IOStatus Close(const IOOptions& o, IODebugContext* d) override { return target()->Close(o, d); }

 private:
  PowerLossFs* fs_;
  std::string name_;
  uint64_t size_;
};

class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<rocksdb::FSDirectory> dir, PowerLossFs* fs, std::string name)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = FSDirectoryWrapper::Fsync(o, d);
    if (s.ok()) fs_->OnDirSync(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* d,
                               const rocksdb::DirFsyncOptions& options) override {
    if (fs_->cut()) return PowerIsOff();
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(o, d, options);
    if (s.ok()) fs_->OnDirSync(name_);
    return s;
  }

 private:
  PowerLossFs* fs_;
  std::string name_;
};

}  // namespace

PowerLossFs::PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}

void PowerLossFs::Cut() {
  std::lock_guard lock(mu_);
  cut_ = true;
}

bool PowerLossFs::cut() const {
  std::lock_guard lock(mu_);
  return cut_;
}

uint64_t PowerLossFs::bytes_dropped() const {
  std::lock_guard lock(mu_);
  return bytes_dropped_;
}

void PowerLossFs::OnAppend(const std::string& name, uint64_t new_size) {
  std::lock_guard lock(mu_);
  files_[name].size = new_size;
}

void PowerLossFs::OnSync(const std::string& name) {
  std::lock_guard lock(mu_);
  FileState& file = files_[name];
  file.synced_size = file.size;
}

void PowerLossFs::OnDirSync(const std::string& dir) {
  std::lock_guard lock(mu_);
  std::string normalized = std::filesystem::path(dir).lexically_normal().string();
  for (auto& [name, state] : files_) {
    if (ParentOf(name) == normalized) state.entry_durable = true;
  }
}

void PowerLossFs::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  for (const auto& [name, state] : files_) {
    std::error_code ec;
    if (!state.entry_durable) {
      uint64_t size = std::filesystem::file_size(name, ec);
      if (!ec) bytes_dropped_ += size;
      std::filesystem::remove(name, ec);
    } else if (state.synced_size < state.size) {
      bytes_dropped_ += state.size - state.synced_size;
      std::filesystem::resize_file(name, state.synced_size, ec);
    }
  }
  files_.clear();
  cut_ = false;
}

IOStatus PowerLossFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) {
  if (cut()) return PowerIsOff();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(f, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    files_[f] = FileState{};
  }
  *r = std::make_unique<TrackedFile>(std::move(file), this, f, 0);
  return s;
}

IOStatus PowerLossFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& opts,
                                         std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) {
  if (cut()) return PowerIsOff();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(f, opts, &file, dbg);
  if (!s.ok()) return s;
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(f, ec);
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = files_.try_emplace(f, FileState{size, size, true});
    if (!inserted) it->second.size = size;
  }
  *r = std::make_unique<TrackedFile>(std::move(file), this, f, size);
  return s;
}

IOStatus PowerLossFs::NewDirectory(const std::string& name, const IOOptions& opts,
                                   std::unique_ptr<rocksdb::FSDirectory>* r, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, opts, &dir, dbg);
  if (s.ok()) *r = std::make_unique<TrackedDirectory>(std::move(dir), this, name);
  return s;
}

IOStatus PowerLossFs::DeleteFile(const std::string& f, const IOOptions& opts, IODebugContext* dbg) {
  if (cut()) return PowerIsOff();
  IOStatus s = target()->DeleteFile(f, opts, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(f);
  }
  return s;
}

IOStatus PowerLossFs::RenameFile(const std::string& from, const std::string& to, const IOOptions& opts,
                                 IODebugContext* dbg) {
  if (cut()) return PowerIsOff();
  IOStatus s = target()->RenameFile(from, to, opts, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(from);
    if (it != files_.end()) {
      FileState state = it->second;
      state.entry_durable = true;
      files_.erase(it);
      files_[to] = state;
    } else {
      files_.erase(to);
    }
  }
  return s;
}

}  // namespace zkspool::testing
