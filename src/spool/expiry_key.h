// Keys of the expiry family, an index of the pending intents that have a TTL: the expiry time
// (Unix ms) then the sequence number, both 8 bytes big-endian, so bytewise order is expiry order
// and a scan from the start finds what is due without reading anything that is not. The value
// is empty; the intent itself stays in the intents family.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "spool/sequence_key.h"

namespace zkspool {

inline std::string ExpiryKey(int64_t expires_at_ms, uint64_t seq) {
  return SequenceKey(static_cast<uint64_t>(expires_at_ms)) + SequenceKey(seq);
}

// The smallest key of everything that expires at `expires_at_ms` or later.
inline std::string ExpiryLowerBound(int64_t expires_at_ms) { return SequenceKey(static_cast<uint64_t>(expires_at_ms)); }

// {expires_at_ms, seq}, or nothing for a key of the wrong size.
inline std::optional<std::pair<int64_t, uint64_t>> ParseExpiryKey(std::string_view key) {
  if (key.size() != 16) return std::nullopt;
  std::optional<uint64_t> at = ParseSequenceKey(key.substr(0, 8));
  std::optional<uint64_t> seq = ParseSequenceKey(key.substr(8));
  return std::make_pair(static_cast<int64_t>(*at), *seq);
}

}  // namespace zkspool
