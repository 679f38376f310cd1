#include "zkspool/status.h"

namespace zkspool {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kSpoolFull: return "spool full";
    case StatusCode::kSpoolInUse: return "spool in use";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kNewerFormat: return "newer format";
    case StatusCode::kIOError: return "I/O error";
    case StatusCode::kTimedOut: return "timed out";
    case StatusCode::kNotASpool: return "not a spool";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace zkspool
