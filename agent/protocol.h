// The agent's control protocol: one JSON object per line on stdin (requests) and stdout
// (events), so a service in any language can drive the Registrar. docs/agent.md has the schema.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>

#include "registration.h"
#include "zkspool/intent.h"
#include "zkspool/registrar.h"
#include "zkspool/status.h"

namespace zkspool::agent {

struct Request {
  enum class Kind { kRegister, kDeregister, kStats, kLeave, kRetryFailed };
  Kind kind = Kind::kRegister;
  nlohmann::json id;  // echoed in the reply; null when the request had none
  Registration registration;  // for kRegister; only path and ttl for kDeregister
};

// Parses one request line. On failure `id` receives the request's id when the line was an
// object that had one, so the error can still be matched to its request.
// Errors: kInvalidArgument naming what is wrong (not JSON, not an object, unknown op, a field
// missing or of the wrong type, an unknown mode). Path and data rules are the spool's, checked
// when the request is spooled. Thread-safe.
Result<Request> ParseRequest(std::string_view line, nlohmann::json& id);

// Events, each one line of JSON without the newline.
std::string SpooledEvent(const nlohmann::json& id, uint64_t seq, const std::string& path);
std::string ErrorEvent(const nlohmann::json& id, const Status& status);
std::string StatsEvent(const nlohmann::json& id, const RegistrarStats& stats);
// The reply to "retry-failed": how many failed intents were spooled again, how many dropped.
std::string RetriedEvent(const nlohmann::json& id, size_t retried, size_t superseded);
// The reply to "leave": the agent ends its session and exits.
std::string LeavingEvent(const nlohmann::json& id);
// The Registrar's own events (applied, expired, conflict, failed, session).
std::string RegistrarEventJson(const RegistrarEvent& event);
// Lines the agent writes about itself: "ready", "synced", "closed".
// "http" is the control API's address, omitted when empty.
std::string ReadyEvent(const std::string& spool, const SpoolStats& stats, int pid, const std::string& http = "");
std::string SyncedEvent(const std::string& file, size_t entries, size_t registers, size_t deregisters);
// "session": "ended" (ephemeral nodes gone) or "kept" (a restart within the timeout resumes it).
std::string ClosedEvent(bool session_ended);

}  // namespace zkspool::agent
