#include "protocol.h"

#include <fmt/format.h>

#include <cstdint>

#include "zkspool/session_id.h"

namespace zkspool::agent {
namespace {

using nlohmann::json;

Status Invalid(std::string message) { return Status::InvalidArgument(std::move(message)); }

Result<std::string> RequiredString(const json& request, const char* field) {
  auto it = request.find(field);
  if (it == request.end()) return Invalid(fmt::format("\"{}\" is missing", field));
  if (!it->is_string()) return Invalid(fmt::format("\"{}\" must be a string", field));
  return it->get<std::string>();
}

json Base(const char* event, const json& id) {
  json out = {{"event", event}};
  if (!id.is_null()) out["id"] = id;
  return out;
}

// Lines must stay one line and valid UTF-8 whatever a node path or error message holds.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Result<Request> ParseRequest(std::string_view line, json& id) {
  id = nullptr;
  json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return Invalid("the line is not valid JSON");
  if (!request.is_object()) return Invalid("a request must be a JSON object");
  if (auto it = request.find("id"); it != request.end()) id = *it;

  Request out;
  out.id = id;
  Result<std::string> op = RequiredString(request, "op");
  if (!op.ok()) return op.status();
  if (*op == "stats" || *op == "leave" || *op == "retry-failed") {
    out.kind = *op == "stats"   ? Request::Kind::kStats
               : *op == "leave" ? Request::Kind::kLeave
                                : Request::Kind::kRetryFailed;
    return out;
  }
  if (*op == "register" || *op == "update") {
    out.kind = Request::Kind::kRegister;
  } else if (*op == "deregister") {
    out.kind = Request::Kind::kDeregister;
  } else {
    return Invalid(fmt::format("op \"{}\" is not one of register, update, deregister, stats, leave, retry-failed", *op));
  }
  Result<Registration> registration = ParseRegistration(request, out.kind == Request::Kind::kDeregister);
  if (!registration.ok()) return registration.status();
  out.registration = std::move(registration).value();
  return out;
}

std::string SpooledEvent(const json& id, uint64_t seq, const std::string& path) {
  json out = Base("spooled", id);
  out["seq"] = seq;
  out["path"] = path;
  return Dump(out);
}

std::string ErrorEvent(const json& id, const Status& status) {
  json out = Base("error", id);
  out["code"] = StatusCodeName(status.code());
  out["message"] = status.message();
  return Dump(out);
}

std::string StatsEvent(const json& id, const RegistrarStats& stats) {
  json out = Base("stats", id);
  out["pending"] = stats.spool.pending_count;
  out["pending_bytes"] = stats.spool.pending_bytes;
  out["registered"] = stats.spool.registered_count;
  out["failed_in_spool"] = stats.spool.failed_count;
  out["next_seq"] = stats.spool.next_sequence;
  out["oldest_pending_age_ms"] =
      stats.spool.oldest_pending_age ? json(stats.spool.oldest_pending_age->count()) : json(nullptr);
  out["session_state"] = SessionStateName(stats.session_state);
  out["session_id"] = FormatSessionId(stats.session_id);
  out["sessions_started"] = stats.sessions_started;
  out["applied"] = stats.applied;
  out["retried"] = stats.retried;
  out["conflicts"] = stats.conflicts;
  out["expired"] = stats.expired;
  out["failed"] = stats.failed;
  out["reasserted"] = stats.reasserted;
  out["conflicting_paths"] = stats.conflicting_paths;
  out["last_error"] = stats.last_error;
  return Dump(out);
}

std::string RetriedEvent(const json& id, size_t retried, size_t superseded) {
  json out = Base("retried", id);
  out["retried"] = retried;
  out["superseded"] = superseded;
  return Dump(out);
}

std::string LeavingEvent(const json& id) { return Dump(Base("leaving", id)); }

std::string ReadyEvent(const std::string& spool, const SpoolStats& stats, int pid, const std::string& http) {
  json out = {{"event", "ready"},
              {"spool", spool},
              {"pending", stats.pending_count},
              {"registered", stats.registered_count},
              {"pid", pid}};
  if (!http.empty()) out["http"] = http;
  return Dump(out);
}

std::string SyncedEvent(const std::string& file, size_t entries, size_t registers, size_t deregisters) {
  return Dump({{"event", "synced"}, {"file", file}, {"entries", entries}, {"registers", registers},
               {"deregisters", deregisters}});
}

std::string ClosedEvent(bool session_ended) {
  return Dump({{"event", "closed"}, {"session", session_ended ? "ended" : "kept"}});
}

std::string RegistrarEventJson(const RegistrarEvent& event) {
  json out = {{"event", EventKindName(event.kind)}};
  switch (event.kind) {
    case RegistrarEvent::Kind::kSession:
      out["state"] = SessionStateName(event.session_state);
      out["session_id"] = FormatSessionId(event.session_id);
      if (!event.message.empty()) out["message"] = event.message;
      break;
    case RegistrarEvent::Kind::kApplied:
    case RegistrarEvent::Kind::kExpired:
      out["seq"] = event.seq;
      out["path"] = event.path;
      if (!event.message.empty()) out["message"] = event.message;
      break;
    case RegistrarEvent::Kind::kConflict:
    case RegistrarEvent::Kind::kWaiting:
      out["path"] = event.path;
      out["message"] = event.message;
      break;
    case RegistrarEvent::Kind::kFailed:
      out["seq"] = event.seq;
      out["path"] = event.path;
      out["message"] = event.message;
      break;
  }
  return Dump(out);
}

}  // namespace zkspool::agent
