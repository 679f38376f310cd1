// The registrations file: the nodes a host should hold, as JSON, which the agent makes true on
// start and on SIGHUP.
//
//   {"registrations": [
//     {"path": "/services/web/host-1", "data": "{\"port\":8080}", "mode": "ephemeral"},
//     {"path": "/services/cache", "data": "", "mode": "persistent-ttl", "node_ttl_ms": 60000,
//      "ttl_ms": 300000}
//   ]}
//
// mode defaults to ephemeral; ttl_ms (how long the intent may wait in the spool) to none.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "registration.h"
#include "zkspool/intent.h"
#include "zkspool/status.h"

namespace zkspool::agent {

// Limits on the file, so that no file can hang or exhaust the agent (docs/agent.md).
inline constexpr size_t kMaxRegistrationsFileBytes = 32 << 20;
inline constexpr size_t kMaxRegistrations = 100'000;

// Reads and checks the whole file: it must be a regular file (opened without blocking, so a FIFO
// is refused rather than waited on) of at most kMaxRegistrationsFileBytes, valid JSON nested at
// most kMaxJsonDepth deep without a key given twice, with at most kMaxRegistrations entries,
// every one valid (path, data size and TTLs by the spool's rules, no path twice) before any is
// used.
// Errors: kInvalidArgument, kNotFound or kIOError whose message names the file and, for a bad
// entry, its index and path and what is wrong with it. Thread-safe.
Result<std::vector<Registration>> LoadRegistrationsFile(const std::string& file, size_t max_data_bytes);

// What must be spooled so that ZooKeeper ends up holding exactly `wanted`, given `desired`, what
// it will hold once the spool drains (Registrar::Desired): puts for entries missing or
// different (data, mode or node TTL), deletes for desired paths the file does not list.
struct SyncPlan {
  std::vector<Registration> puts;
  std::vector<std::string> deletes;
};
SyncPlan PlanSync(const std::vector<Registration>& wanted, const std::vector<SpooledIntent>& desired);

}  // namespace zkspool::agent
