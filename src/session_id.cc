#include "zkspool/session_id.h"

#include <fmt/format.h>

namespace zkspool {

std::string FormatSessionId(int64_t id) { return fmt::format("0x{:x}", static_cast<uint64_t>(id)); }

}  // namespace zkspool
