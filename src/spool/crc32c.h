// CRC-32C (Castagnoli), the checksum guarding each spool record.
#pragma once

#include <cstdint>
#include <string_view>

namespace zkspool {

uint32_t Crc32c(std::string_view bytes);
// The same with the table-driven code that Crc32c uses where the CPU has no CRC32C instruction.
uint32_t Crc32cPortable(std::string_view bytes);
// The CRC-32C of the bytes whose CRC is `crc` followed by `bytes` (Crc32c(a + b) ==
// Crc32cExtend(Crc32c(a), b)), as RocksDB's log records need it.
uint32_t Crc32cExtend(uint32_t crc, std::string_view bytes);

}  // namespace zkspool
