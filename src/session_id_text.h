// How a ZooKeeper session id is written in every log line, event and message: lower-case hex with
// 0x, as ZooKeeper's own logs and four-letter words write it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace zkspool {

inline std::string SessionIdText(int64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace zkspool
