// The agent's control protocol: one JSON object per line on stdin (requests) and stdout
// (events), so a service in any language can drive the Registrar. docs/agent.md has the schema.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "registration.h"
#include "zkspool/intent.h"
#include "zkspool/registrar.h"
#include "zkspool/status.h"

namespace zkspool::agent {

// Limits on what a client may send (docs/agent.md). A request line of up to 2 MiB holds the
// largest node data the spool takes (1 MiB - 16 KiB) as plain JSON text with room for escapes.
inline constexpr size_t kMaxRequestLineBytes = 2 << 20;
inline constexpr size_t kMaxJsonDepth = 64;

// A request's "id", echoed in its reply exactly as it was sent (a 30-digit integer stays that
// integer), held as compact JSON text; empty when the request had none.
class RequestId {
 public:
  RequestId() = default;
  RequestId(std::nullptr_t) {}  // NOLINT: implicit, "no id"
  // From a JSON value (null: no id), for ids that do not come from a request line.
  template <typename T>
    requires std::constructible_from<nlohmann::json, const T&>
  RequestId(const T& value) : RequestId(FromJson(nlohmann::json(value))) {}  // NOLINT: implicit by design
  // From JSON text that is already compact and valid, e.g. BoundedJson::id_text.
  static RequestId FromText(std::string text);

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }
  bool operator==(const RequestId&) const = default;

 private:
  static RequestId FromJson(const nlohmann::json& value);
  std::string text_;
};

struct Request {
  enum class Kind { kRegister, kDeregister, kStats, kLeave, kRetryFailed };
  Kind kind = Kind::kRegister;
  RequestId id;               // echoed in the reply
  Registration registration;  // for kRegister; only path and ttl for kDeregister
};

// Parses one request line (without its newline). On failure `id` receives the request's id when
// the line was an object that had one, so the error can still be matched to its request.
// Errors: kInvalidArgument naming what is wrong: longer than kMaxRequestLineBytes, not JSON,
// nested deeper than kMaxJsonDepth, a key given twice, not an object, unknown op, a field
// missing or of the wrong type, an unknown mode. Path and data rules are the spool's, checked
// when the request is spooled. Thread-safe.
Result<Request> ParseRequest(std::string_view line, RequestId& id);

// What requests do to the agent, so that HandleRequest can be driven without one.
class RequestTarget {
 public:
  virtual ~RequestTarget() = default;
  virtual Result<uint64_t> Register(const Registration& r) = 0;
  virtual Result<uint64_t> Deregister(const std::string& path, std::chrono::milliseconds ttl) = 0;
  virtual RegistrarStats Stats() = 0;
  // "leave": end the session at exit, and exit soon.
  virtual void Leave() = 0;
  // "retry-failed": {retried, superseded} counts (Registrar::RetryFailed).
  virtual Result<std::pair<size_t, size_t>> RetryFailed() = 0;
};

// The reply to one request line: one line of JSON, and the sequence number it acknowledges
// (for EventOutput::Reply) when it is a "spooled" reply.
struct Reply {
  std::string line;
  std::optional<uint64_t> acknowledges;
};
// The whole way from a request line to its reply: parse, act on `target`, serialise.
// Thread-safe if `target` is.
Reply HandleRequest(std::string_view line, RequestTarget& target);

// Events, each one line of JSON without the newline.
std::string SpooledEvent(const RequestId& id, uint64_t seq, const std::string& path);
std::string ErrorEvent(const RequestId& id, const Status& status);
std::string StatsEvent(const RequestId& id, const RegistrarStats& stats);
// The reply to "retry-failed": how many failed intents were spooled again, how many dropped.
std::string RetriedEvent(const RequestId& id, size_t retried, size_t superseded);
// The reply to "leave": the agent ends its session and exits.
std::string LeavingEvent(const RequestId& id);
// The error reply to a line over kMaxRequestLineBytes, which is discarded up to its newline.
std::string LineTooLongEvent();
// The Registrar's own events (applied, expired, conflict, waiting, failed, session).
std::string RegistrarEventJson(const RegistrarEvent& event);
// Lines the agent writes about itself: "ready", "synced", "closed".
// "http" is the control API's address, omitted when empty.
std::string ReadyEvent(const std::string& spool, const SpoolStats& stats, int pid, const std::string& http = "");
std::string SyncedEvent(const std::string& file, size_t entries, size_t registers, size_t deregisters);
// "session": "ended" (ephemeral nodes gone) or "kept" (a restart within the timeout resumes it).
std::string ClosedEvent(bool session_ended);

}  // namespace zkspool::agent
