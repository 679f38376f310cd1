// Little-endian fixed-width integers for the spool's record formats, and a bounds-checked reader.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace zkspool {

inline void PutFixed(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// Reads fields front to back; every read fails (returns false) instead of running past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : rest_(bytes) {}

  bool ReadFixed(int width, uint64_t& value) {
    if (rest_.size() < static_cast<size_t>(width)) return false;
    value = 0;
    for (int i = 0; i < width; ++i) value |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    rest_.remove_prefix(width);
    return true;
  }
  bool ReadU8(uint8_t& v) { uint64_t x; if (!ReadFixed(1, x)) return false; v = static_cast<uint8_t>(x); return true; }
  bool ReadU32(uint32_t& v) { uint64_t x; if (!ReadFixed(4, x)) return false; v = static_cast<uint32_t>(x); return true; }
  bool ReadU64(uint64_t& v) { return ReadFixed(8, v); }
  bool ReadI64(int64_t& v) { uint64_t x; if (!ReadFixed(8, x)) return false; v = static_cast<int64_t>(x); return true; }
  // A u32 length followed by that many bytes.
  bool ReadLengthPrefixed(std::string& out) {
    uint32_t len;
    if (!ReadU32(len) || rest_.size() < len) return false;
    out.assign(rest_.data(), len);
    rest_.remove_prefix(len);
    return true;
  }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

inline void PutLengthPrefixed(std::string& out, std::string_view bytes) {
  PutFixed(out, bytes.size(), 4);
  out.append(bytes);
}

}  // namespace zkspool
