// Runs the built zkspoolctl binary (ZKSPOOLCTL, set by CMake; the environment variable of the
// same name overrides it) the way an operator would and captures what it prints.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace zkspool::testing {

struct ToolRun {
  int exit = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
  std::vector<std::string> OutLines() const;
  // Every stdout line parsed as JSON; a line that does not parse fails the test.
  std::vector<nlohmann::json> JsonLines() const;
};

// stdin is /dev/null (not a terminal), so purge needs no --yes.
ToolRun RunTool(const std::vector<std::string>& args);
// stdin, stdout and stderr are a pseudo-terminal; the output of both ends up in `out`.
ToolRun RunToolOnTerminal(const std::vector<std::string>& args);

}  // namespace zkspool::testing
