// The agent's command line: every option, each also settable in a TOML config file (--config),
// with the checks and defaults that --help and docs/agent.md show.
#pragma once

#include <string>
#include <variant>

#include "agent.h"

namespace zkspool::agent {

struct CommandLine {
  AgentOptions options;
  std::string log_level = "info";
};

// Parses argv (and the config file it names). Returns what to run with, or the exit status to
// exit with at once: kExitOk after --help or --version (printed on stdout), kExitUsage after a
// bad option or config file (printed on stderr, naming the option and what is wrong).
// Not thread-safe (CLI11 and the auth file are read on the calling thread); call it from main().
std::variant<CommandLine, int> ParseCommandLine(int argc, char** argv);

}  // namespace zkspool::agent
