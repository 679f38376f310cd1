// zkspool-agent: see agent.h and docs/agent.md.
#include <fcntl.h>

#include <variant>

#include "agent.h"
#include "agent_log.h"
#include "cli_options.h"

int main(int argc, char** argv) {
  using namespace zkspool;
  // Started with stdin, stdout or stderr closed, the spool's files would get those numbers and
  // requests would be read from, and events written into, the database.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) return agent::kExitError;
  }
  std::variant<agent::CommandLine, int> parsed = agent::ParseCommandLine(argc, argv);
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  agent::CommandLine& command_line = std::get<agent::CommandLine>(parsed);
  command_line.options.registrar.spool.logger = agent::MakeAgentLogger(command_line.log_level);
  return agent::RunAgent(std::move(command_line.options));
}
