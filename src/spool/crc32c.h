// CRC-32C (Castagnoli), the checksum guarding each spool record.
#pragma once

#include <cstdint>
#include <string_view>

namespace zkspool {

uint32_t Crc32c(std::string_view bytes);

}  // namespace zkspool
