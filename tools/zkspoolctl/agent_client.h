// One HTTP request to a running zkspool-agent's control API, on TCP ("HOST:PORT") or a Unix
// socket ("unix:PATH"), through cpp-httplib's client.
#pragma once

#include <string>

#include "zkspool/status.h"

namespace zkspoolctl {

struct AgentReply {
  int status = 0;  // HTTP status
  std::string body;
};

// Errors: kInvalidArgument for a malformed address; kIOError naming the address when the agent
// cannot be reached or does not answer within `timeout_ms`.
zkspool::Result<AgentReply> CallAgent(const std::string& address, const std::string& method,
                                      const std::string& path, const std::string& body, int timeout_ms);

}  // namespace zkspoolctl
