// CRC-32C (Castagnoli), the checksum guarding each spool record.
#pragma once

#include <cstdint>
#include <string_view>

namespace zkspool {

uint32_t Crc32c(std::string_view bytes);
// The same with the table-driven code that Crc32c uses where the CPU has no CRC32C instruction.
uint32_t Crc32cPortable(std::string_view bytes);

}  // namespace zkspool
