// libFuzzer target: the agent's whole way from the bytes a client writes to its stdin to the
// replies it writes back: LineReader splits them into bounded lines, HandleRequest parses each
// (bounded JSON), validates it as the spool would (a target that runs ValidateIntent instead of
// spooling) and serialises the reply. Nothing may crash, hang or throw; every reply must be one
// line of valid JSON; a request's id must come back as the exact text it was sent as.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "line_reader.h"
#include "protocol.h"
#include "zkspool/spool.h"

namespace {

using namespace zkspool;

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckOneJsonLine(const std::string& line) {
  Check(line.find('\n') == std::string::npos);
  Check(nlohmann::json::accept(line));
}

// Validates what would be spooled, as Spool::Append does first.
class ValidatingTarget : public agent::RequestTarget {
 public:
  Result<uint64_t> Register(const agent::Registration& r) override {
    BatchEntry put = agent::PutEntry(r);
    return Spooled(ValidateIntent(put.intent, put.ttl, kDefaultMaxDataBytes));
  }
  Result<uint64_t> Deregister(const std::string& path, std::chrono::milliseconds ttl) override {
    BatchEntry del = agent::DeleteEntry(path, ttl);
    return Spooled(ValidateIntent(del.intent, del.ttl, kDefaultMaxDataBytes));
  }
  RegistrarStats Stats() override { return RegistrarStats(); }
  void Leave() override {}
  Result<std::pair<size_t, size_t>> RetryFailed() override {
    return std::pair<size_t, size_t>(0, 0);
  }

 private:
  Result<uint64_t> Spooled(const Status& valid) {
    if (!valid.ok()) return valid;
    return ++seq_;
  }
  uint64_t seq_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ValidatingTarget target;
  auto on_line = [&target](std::string_view line) {
    agent::Reply reply = agent::HandleRequest(line, target);
    CheckOneJsonLine(reply.line);
    agent::RequestId id;
    Result<agent::Request> request = agent::ParseRequest(line, id);
    if (!request.ok()) {
      Check(request.status().code() == StatusCode::kInvalidArgument);
    } else {
      Check(request->id == id);
    }
    if (!id.empty()) Check(reply.line.starts_with("{\"id\":" + id.text() + ","));
  };
  // Small lines here, so that the fuzzer's inputs reach the limit; the agent uses 2 MiB.
  agent::LineReader lines(1024);
  lines.Feed(input, on_line, [] { CheckOneJsonLine(agent::LineTooLongEvent()); });
  Check(lines.buffered() <= 1024);
  lines.Finish(on_line);
  return 0;
}
