// How child processes of crash and chaos tests tell their parent what they did: one line per
// write(2), so a SIGKILL can cut a report off but never leave half a line in the pipe.
#pragma once

#include <unistd.h>

#include <string>

namespace zkspool::testing {

// Writes `line` and a newline to stdout in one write(2); exits with 3 if the parent is gone.
inline void ReportLine(const std::string& line) {
  std::string out = line + "\n";
  if (::write(STDOUT_FILENO, out.data(), out.size()) != static_cast<ssize_t>(out.size())) ::_exit(3);
}

}  // namespace zkspool::testing
