// One registration as the agent receives it, from a request line or the registrations file, and
// how it is spooled.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "zkspool/intent.h"
#include "zkspool/registrar.h"
#include "zkspool/status.h"

namespace zkspool::agent {

struct Registration {
  std::string path;
  std::string data;
  NodeMode mode = NodeMode::kEphemeral;
  std::chrono::milliseconds node_ttl{0};  // only with NodeMode::kPersistentWithTtl
  std::chrono::milliseconds ttl{0};       // how long the intent may wait; 0 = the agent's default
};

// Reads "path" (required), "ttl_ms" and, unless `path_only`, "data", "mode" and "node_ttl_ms"
// from a JSON object. Any other key is refused unless `is_request` allows the request's own
// "op" and "id": a misspelt "mdoe" ignored would make the node ephemeral without a word.
// Errors: kInvalidArgument naming the field or key and what is wrong with it. Path and data
// rules are the spool's (see ValidateIntent). Thread-safe.
Result<Registration> ParseRegistration(const nlohmann::json& object, bool path_only = false, bool is_request = false);

// NodeMode from its NodeModeName(). Errors: kInvalidArgument listing the valid names.
Result<NodeMode> ParseNodeMode(std::string_view name);

// Spools "make it exist as described" through `registrar`; its errors are Registrar::Register's.
Result<uint64_t> SpoolPut(Registrar& registrar, const Registration& r);

// The intent (with its spool TTL) that SpoolPut spools, for Registrar::Submit and validation.
BatchEntry PutEntry(const Registration& r);
// "Make `path` not exist", waiting at most `ttl` in the spool.
BatchEntry DeleteEntry(const std::string& path, std::chrono::milliseconds ttl);

}  // namespace zkspool::agent
