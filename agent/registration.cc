#include "registration.h"

#include <fmt/format.h>

namespace zkspool::agent {
namespace {

using nlohmann::json;

Status Invalid(std::string message) { return Status::InvalidArgument(std::move(message)); }

// A non-negative integer field in milliseconds; absent or null = 0.
Result<std::chrono::milliseconds> Millis(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::chrono::milliseconds{0};
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    return Invalid(fmt::format("\"{}\" must be a non-negative integer (milliseconds)", field));
  }
  return std::chrono::milliseconds{it->get<int64_t>()};
}

}  // namespace

Result<NodeMode> ParseNodeMode(std::string_view name) {
  for (NodeMode mode : {NodeMode::kEphemeral, NodeMode::kPersistent, NodeMode::kContainer,
                        NodeMode::kPersistentWithTtl}) {
    if (name == NodeModeName(mode)) return mode;
  }
  return Invalid(fmt::format("mode \"{}\" is not one of ephemeral, persistent, container, persistent-ttl", name));
}

Result<Registration> ParseRegistration(const json& object, bool path_only, bool is_request) {
  if (!object.is_object()) return Invalid("an entry must be a JSON object");
  for (const auto& [key, value] : object.items()) {
    const bool known = key == "path" || key == "data" || key == "mode" || key == "ttl_ms" || key == "node_ttl_ms" ||
                       (is_request && (key == "op" || key == "id"));
    if (!known) {
      return Invalid(fmt::format("unknown key {}: {} takes path, data, mode, ttl_ms, node_ttl_ms{}",
                                 json(key).dump(-1, ' ', false, json::error_handler_t::replace),
                                 is_request ? "a request" : "an entry", is_request ? ", op and id" : ""));
    }
  }
  Registration r;
  auto path = object.find("path");
  if (path == object.end()) return Invalid("\"path\" is missing");
  if (!path->is_string()) return Invalid("\"path\" must be a string");
  r.path = path->get<std::string>();
  Result<std::chrono::milliseconds> ttl = Millis(object, "ttl_ms");
  if (!ttl.ok()) return ttl.status();
  r.ttl = *ttl;
  if (path_only) return r;

  if (auto data = object.find("data"); data != object.end() && !data->is_null()) {
    if (!data->is_string()) return Invalid("\"data\" must be a string");
    r.data = data->get<std::string>();
  }
  if (auto mode = object.find("mode"); mode != object.end() && !mode->is_null()) {
    if (!mode->is_string()) return Invalid("\"mode\" must be a string");
    Result<NodeMode> parsed = ParseNodeMode(mode->get<std::string>());
    if (!parsed.ok()) return parsed.status();
    r.mode = *parsed;
  }
  Result<std::chrono::milliseconds> node_ttl = Millis(object, "node_ttl_ms");
  if (!node_ttl.ok()) return node_ttl.status();
  r.node_ttl = *node_ttl;
  if ((r.mode == NodeMode::kPersistentWithTtl) != (r.node_ttl.count() > 0)) {
    return Invalid("\"node_ttl_ms\" (positive) goes with mode persistent-ttl and only with it");
  }
  return r;
}

Result<uint64_t> SpoolPut(Registrar& registrar, const Registration& r) {
  if (r.mode == NodeMode::kPersistentWithTtl) return registrar.RegisterWithNodeTtl(r.path, r.data, r.node_ttl, r.ttl);
  return registrar.Register(r.path, r.data, r.mode, r.ttl);
}

BatchEntry PutEntry(const Registration& r) {
  BatchEntry entry;
  entry.intent.op = Op::kPut;
  entry.intent.path = r.path;
  entry.intent.data = r.data;
  entry.intent.mode = r.mode;
  entry.intent.node_ttl_ms = r.node_ttl.count();
  entry.ttl = r.ttl;
  return entry;
}

BatchEntry DeleteEntry(const std::string& path, std::chrono::milliseconds ttl) {
  BatchEntry entry;
  entry.intent.op = Op::kDelete;
  entry.intent.path = path;
  entry.ttl = ttl;
  return entry;
}

}  // namespace zkspool::agent
