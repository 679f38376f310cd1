// Values of the meta column family: counters, the current ZooKeeper session and the ids of the
// sessions this spool has owned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

// Keys of the meta column family.
inline constexpr std::string_view kMetaFormatVersion = "format_version";
inline constexpr std::string_view kMetaSequenceFloor = "sequence_floor";  // every seq ever removed is below it
inline constexpr std::string_view kMetaExpiredCount = "expired_count";
inline constexpr std::string_view kMetaSession = "session";
inline constexpr std::string_view kMetaOwnedSessions = "owned_sessions";

std::string EncodeU64(uint64_t value);
// Errors: kCorruption naming `what`.
Result<uint64_t> DecodeU64(std::string_view bytes, std::string_view what);

std::string EncodeSession(const SessionInfo& session);
Result<SessionInfo> DecodeSession(std::string_view bytes);

std::string EncodeSessionIds(const std::vector<int64_t>& ids);
Result<std::vector<int64_t>> DecodeSessionIds(std::string_view bytes);

}  // namespace zkspool
