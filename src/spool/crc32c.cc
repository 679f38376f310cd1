#include "spool/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace zkspool {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t Portable(uint32_t crc, std::string_view bytes) {
  for (unsigned char c : bytes) crc = kTable[(crc ^ c) & 0xFFu] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The CPU's CRC32C instruction (SSE 4.2): eight bytes a cycle instead of one, which matters
// because every record is checked each time it is read (the reconciler reads each intent twice).
__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc, std::string_view bytes) {
  const char* p = bytes.data();
  size_t n = bytes.size();
  uint64_t wide = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    wide = _mm_crc32_u64(wide, word);
  }
  crc = static_cast<uint32_t>(wide);
  for (; n > 0; ++p, --n) crc = _mm_crc32_u8(crc, static_cast<unsigned char>(*p));
  return crc;
}

const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32cPortable(std::string_view bytes) { return Portable(0xFFFFFFFFu, bytes) ^ 0xFFFFFFFFu; }

uint32_t Crc32cExtend(uint32_t crc, std::string_view bytes) {
  crc ^= 0xFFFFFFFFu;
#if defined(__x86_64__)
  if (kHasSse42) return Hardware(crc, bytes) ^ 0xFFFFFFFFu;
#endif
  return Portable(crc, bytes) ^ 0xFFFFFFFFu;
}

uint32_t Crc32c(std::string_view bytes) { return Crc32cExtend(0, bytes); }

}  // namespace zkspool
