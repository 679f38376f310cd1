#include "protocol.h"

#include <fmt/format.h>

#include <cstdint>

#include "bounded_json.h"
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

// Lines must stay one line and valid UTF-8 whatever a node path or error message holds.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// `out` as a line, with the request's id first, as it was sent.
std::string WithId(const json& out, const RequestId& id) {
  std::string line = Dump(out);
  if (id.empty()) return line;
  return "{\"id\":" + id.text() + (out.empty() ? "" : ",") + line.substr(1);
}

}  // namespace

RequestId RequestId::FromText(std::string text) {
  RequestId id;
  id.text_ = std::move(text);
  return id;
}

RequestId RequestId::FromJson(const json& value) { return value.is_null() ? RequestId() : FromText(Dump(value)); }

Result<Request> ParseRequest(std::string_view line, RequestId& id) {
  id = RequestId();
  if (line.size() > kMaxRequestLineBytes) {
    return Invalid(fmt::format("the line is longer than {} bytes, the limit", kMaxRequestLineBytes));
  }
  Result<BoundedJson> parsed = ParseBoundedJson(line, JsonLimits{kMaxJsonDepth});
  if (!parsed.ok()) return Invalid("the line " + parsed.status().message());
  const json& request = parsed->value;
  if (!request.is_object()) return Invalid("a request must be a JSON object");
  if (parsed->id_text && *parsed->id_text != "null") id = RequestId::FromText(*parsed->id_text);

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
  Result<Registration> registration = ParseRegistration(request, out.kind == Request::Kind::kDeregister, /*is_request=*/true);
  if (!registration.ok()) return registration.status();
  out.registration = std::move(registration).value();
  return out;
}

Reply HandleRequest(std::string_view line, RequestTarget& target) {
  RequestId id;
  Result<Request> request = ParseRequest(line, id);
  if (!request.ok()) return {ErrorEvent(id, request.status()), std::nullopt};
  switch (request->kind) {
    case Request::Kind::kStats:
      return {StatsEvent(request->id, target.Stats()), std::nullopt};
    case Request::Kind::kLeave:
      target.Leave();
      return {LeavingEvent(request->id), std::nullopt};
    case Request::Kind::kRetryFailed: {
      Result<std::pair<size_t, size_t>> counts = target.RetryFailed();
      if (!counts.ok()) return {ErrorEvent(request->id, counts.status()), std::nullopt};
      return {RetriedEvent(request->id, counts->first, counts->second), std::nullopt};
    }
    case Request::Kind::kRegister:
    case Request::Kind::kDeregister:
      break;
  }
  const Registration& r = request->registration;
  Result<uint64_t> seq =
      request->kind == Request::Kind::kDeregister ? target.Deregister(r.path, r.ttl) : target.Register(r);
  if (!seq.ok()) return {ErrorEvent(request->id, seq.status()), std::nullopt};
  return {SpooledEvent(request->id, *seq, r.path), *seq};
}

std::string SpooledEvent(const RequestId& id, uint64_t seq, const std::string& path) {
  return WithId({{"event", "spooled"}, {"seq", seq}, {"path", path}}, id);
}

std::string ErrorEvent(const RequestId& id, const Status& status) {
  return WithId({{"event", "error"}, {"code", StatusCodeName(status.code())}, {"message", status.message()}}, id);
}

std::string LineTooLongEvent() {
  return ErrorEvent(nullptr, Status::InvalidArgument(fmt::format(
                                 "a request line is longer than {} bytes, the limit; it was discarded up to its end",
                                 kMaxRequestLineBytes)));
}

std::string StatsEvent(const RequestId& id, const RegistrarStats& stats) {
  json out = {{"event", "stats"}};
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
  out["operations_in_flight"] = stats.operations_in_flight;
  out["pacer_window"] = stats.pacer_window;
  out["pacer_latency_ms"] = stats.pacer_latency_ms;
  out["pacer_cuts"] = stats.pacer_cuts;
  out["throttled_ms"] = stats.throttled_ms;
  return WithId(out, id);
}

std::string RetriedEvent(const RequestId& id, size_t retried, size_t superseded) {
  return WithId({{"event", "retried"}, {"retried", retried}, {"superseded", superseded}}, id);
}

std::string LeavingEvent(const RequestId& id) { return WithId({{"event", "leaving"}}, id); }

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
    case RegistrarEvent::Kind::kPaced:
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
