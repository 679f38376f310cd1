#include "run_tool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace zkspool::testing {
namespace {

// The binary under test: the build's own, or $ZKSPOOLCTL (to run the tests against another build).
const char* Tool() {
  const char* other = std::getenv("ZKSPOOLCTL");
  return other != nullptr && *other != '\0' ? other : ZKSPOOLCTL;
}

std::vector<char*> Argv(const std::vector<std::string>& args, std::vector<std::string>& storage) {
  storage.clear();
  storage.push_back(Tool());
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  return argv;
}

int ExitOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::string> ToolRun::OutLines() const {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<nlohmann::json> ToolRun::JsonLines() const {
  std::vector<nlohmann::json> out_json;
  for (const std::string& line : OutLines()) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    out_json.push_back(j);
  }
  return out_json;
}

ToolRun RunTool(const std::vector<std::string>& args) {
  TempDir dir;
  const std::string out_path = dir.Sub("out"), err_path = dir.Sub("err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> storage;
  std::vector<char*> argv = Argv(args, storage);
  pid_t pid;
  ToolRun run;
  int rc = posix_spawn(&pid, Tool(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << Tool();
    return run;
  }
  int status;
  waitpid(pid, &status, 0);
  run.exit = ExitOf(status);
  run.out = Slurp(out_path);
  run.err = Slurp(err_path);
  return run;
}

ToolRun RunToolOnTerminal(const std::vector<std::string>& args) {
  std::vector<std::string> storage;
  std::vector<char*> argv = Argv(args, storage);
  int master;
  ToolRun run;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty failed";
    return run;
  }
  if (pid == 0) {
    execv(Tool(), argv.data());
    _exit(127);
  }
  char buffer[4096];
  for (;;) {
    ssize_t n = read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the child has closed the terminal
    run.out.append(buffer, n);
  }
  close(master);
  int status;
  waitpid(pid, &status, 0);
  run.exit = ExitOf(status);
  return run;
}

}  // namespace zkspool::testing
