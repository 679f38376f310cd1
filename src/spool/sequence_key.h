// Keys of the intents column family: the sequence number as 8 big-endian bytes, so RocksDB's
// bytewise order is sequence order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zkspool {

inline std::string SequenceKey(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) key[i] = static_cast<char>(seq & 0xFF);
  return key;
}

inline std::optional<uint64_t> ParseSequenceKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  uint64_t seq = 0;
  for (unsigned char c : key) seq = (seq << 8) | c;
  return seq;
}

}  // namespace zkspool
