#include "spool/log_scan.h"

#include <rocksdb/file_system.h>

#include <memory>
#include <vector>

#include "spool/crc32c.h"

namespace zkspool {
namespace {

constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;
enum RecordType : uint8_t { kZeroType = 0, kFullType = 1, kFirstType = 2, kMiddleType = 3, kLastType = 4 };

uint32_t Unmask(uint32_t masked) {
  constexpr uint32_t kMaskDelta = 0xa282ead8u;
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

uint32_t LoadU32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

struct Header {
  uint8_t type = 0;
  size_t length = 0;
};

// The fragment header at `pos` of `block`, if a whole fragment with a matching checksum starts
// there; otherwise why not.
std::optional<Header> ValidFragment(std::string_view block, size_t pos, std::string* why) {
  if (block.size() - pos < kHeaderSize) {
    if (why) *why = "a record header cut short";
    return std::nullopt;
  }
  const char* h = block.data() + pos;
  Header header;
  header.length = static_cast<unsigned char>(h[4]) | static_cast<size_t>(static_cast<unsigned char>(h[5])) << 8;
  header.type = static_cast<uint8_t>(h[6]);
  if (header.type == kZeroType && header.length == 0) {
    if (why) *why = "zeroed bytes";
    return std::nullopt;
  }
  if (header.type < kFullType || header.type > kLastType) {
    if (why) *why = "a record of unknown type " + std::to_string(header.type);
    return std::nullopt;
  }
  if (header.length > block.size() - pos - kHeaderSize) {
    if (why) *why = "a record length running past its block or the file";
    return std::nullopt;
  }
  const char type = static_cast<char>(header.type);
  uint32_t crc = Crc32cExtend(Crc32c(std::string_view(&type, 1)), std::string_view(h + kHeaderSize, header.length));
  if (Unmask(LoadU32(h)) != crc) {
    if (why) *why = "a record checksum mismatch";
    return std::nullopt;
  }
  return header;
}

class Scanner {
 public:
  Scanner(LogScan& out, const std::function<void(std::string_view)>& on_record) : out_(out), on_record_(on_record) {}

  void Block(uint64_t base, std::string_view block) {
    size_t pos = 0;
    while (pos < block.size()) {
      if (lost_) {
        std::optional<size_t> found = Resync(block, pos);
        if (!found) return;
        pos = *found;
        lost_ = false;
        if (!out_.valid_after) out_.valid_after = base + pos;
      }
      // The writer pads a block's last few bytes instead of starting a header there.
      if (block.size() == kBlockSize && kBlockSize - pos < kHeaderSize) return;
      std::string why;
      std::optional<Header> header = ValidFragment(block, pos, &why);
      if (!header) {
        Damaged(base + pos, why);
        ++pos;
        continue;
      }
      Deliver(*header, block.substr(pos + kHeaderSize, header->length));
      pos += kHeaderSize + header->length;
      if (!out_.damage_at) out_.valid_end = base + pos;
    }
    if (!out_.damage_at && block.size() == kBlockSize) out_.valid_end = base + kBlockSize;
  }

 private:
  std::optional<size_t> Resync(std::string_view block, size_t from) {
    for (size_t pos = from; pos + kHeaderSize <= block.size(); ++pos) {
      if (ValidFragment(block, pos, nullptr)) return pos;
    }
    return std::nullopt;
  }

  void Damaged(uint64_t at, const std::string& why) {
    if (!out_.damage_at) {
      out_.damage_at = at;
      out_.damage = why;
    }
    lost_ = true;
    fragments_.reset();
  }

  void Deliver(const Header& header, std::string_view payload) {
    switch (header.type) {
      case kFullType:
        fragments_.reset();
        if (on_record_) on_record_(payload);
        break;
      case kFirstType:
        fragments_ = std::string(payload);
        break;
      case kMiddleType:
        if (fragments_) fragments_->append(payload);
        break;
      case kLastType:
        if (fragments_ && on_record_) on_record_(*fragments_ + std::string(payload));
        fragments_.reset();
        break;
    }
  }

  LogScan& out_;
  const std::function<void(std::string_view)>& on_record_;
  bool lost_ = false;
  std::optional<std::string> fragments_;  // a record being reassembled from its fragments
};

}  // namespace

Result<LogScan> ScanLogFile(rocksdb::FileSystem& fs, const std::string& path,
                            const std::function<void(std::string_view)>& on_record) {
  LogScan out;
  rocksdb::IOStatus s = fs.GetFileSize(path, rocksdb::IOOptions(), &out.size, nullptr);
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  if (s.ok()) s = fs.NewSequentialFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (!s.ok()) return Status::IOError("cannot read " + path + ": " + s.ToString());
  Scanner scanner(out, on_record);
  std::vector<char> scratch(kBlockSize);
  for (uint64_t base = 0; base < out.size; base += kBlockSize) {
    rocksdb::Slice block;
    s = file->Read(kBlockSize, rocksdb::IOOptions(), &block, scratch.data(), nullptr);
    if (!s.ok()) return Status::IOError("cannot read " + path + ": " + s.ToString());
    if (block.empty()) break;  // shorter than it was a moment ago: a live log being replaced
    scanner.Block(base, block.ToStringView());
  }
  return out;
}

}  // namespace zkspool
