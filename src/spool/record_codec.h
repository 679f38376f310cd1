// The versioned binary format of a spooled intent, used for pending intents and for the nodes of
// the registered set.
//
// Every version starts with a CRC-32C of the rest of the record, then a one-byte format version;
// that prefix is the forward contract that lets an older build tell "written by a newer build"
// (kNewerFormat) from damage (kCorruption).
//
// Version 1, after crc32c:u32 and version:u8 (integers little-endian):
//   op:u8 mode:u8 acl:u8 seq:u64 node_ttl_ms:i64 enqueued_at_ms:i64 expires_at_ms:i64
//   path_len:u32 path data_len:u32 data
// Version 2 inserts flags:u8 after acl (bit 0: keep_mode). Records without flags are still
// written as version 1, so builds that only know version 1 read every ordinary record.
#pragma once

#include <string>
#include <string_view>

#include "zkspool/intent.h"
#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

inline constexpr uint8_t kRecordFormatVersion = 2;

std::string EncodeRecord(const SpooledIntent& record);
// Size EncodeRecord would produce, without encoding.
size_t EncodedRecordSize(const Intent& intent);
// Errors: kCorruption (bad checksum, truncated, out-of-range field, trailing bytes),
// kNewerFormat (valid checksum, version above kRecordFormatVersion).
Result<SpooledIntent> DecodeRecord(std::string_view bytes);

// A parked failed intent: its record, length-prefixed, then the reason.
std::string EncodeFailed(std::string_view record_bytes, std::string_view reason);
Result<FailedIntent> DecodeFailed(std::string_view bytes);

}  // namespace zkspool
