// How every zkspool output (logs, agent events, metrics, zkspoolctl) writes a ZooKeeper session
// id: "0x" and lower-case hex without leading zeros, e.g. "0x1000096ab740000". That is how the
// server's own logs and four-letter words print it (Java's Long.toHexString), so an id copied
// from one can be searched for in the other.
#pragma once

#include <cstdint>
#include <string>

namespace zkspool {

// Never fails. Thread-safe.
std::string FormatSessionId(int64_t id);

}  // namespace zkspool
