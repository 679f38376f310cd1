// libFuzzer target: one line of the agent's JSON-lines protocol, as a service (or anything
// writing to its stdin) might send it. The parser must never crash or throw; a parsed request
// goes through the same validation Registrar::Register/Deregister apply before spooling; and the
// reply the agent writes (spooled or error) must stay one line of valid JSON whatever the input.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol.h"
#include "zkspool/spool.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckOneJsonLine(const std::string& line) {
  Check(line.find('\n') == std::string::npos);
  Check(nlohmann::json::accept(line));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zkspool;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  nlohmann::json id;
  Result<agent::Request> request = agent::ParseRequest(line, id);
  if (!request.ok()) {
    Check(request.status().code() == StatusCode::kInvalidArgument);
    CheckOneJsonLine(agent::ErrorEvent(id, request.status()));
    return 0;
  }
  Check(request->id == id);
  if (request->kind == agent::Request::Kind::kStats) return 0;

  Intent intent;
  intent.op = request->kind == agent::Request::Kind::kDeregister ? Op::kDelete : Op::kPut;
  const agent::Registration& r = request->registration;
  intent.path = r.path;
  if (intent.op == Op::kPut) {
    intent.data = r.data;
    intent.mode = r.mode;
    intent.node_ttl_ms = r.node_ttl.count();
  }
  Status valid = ValidateIntent(intent, r.ttl, kDefaultMaxDataBytes);
  CheckOneJsonLine(valid.ok() ? agent::SpooledEvent(id, 1, r.path) : agent::ErrorEvent(id, valid));
  return 0;
}
