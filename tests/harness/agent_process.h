// A zkspool-agent child process driven over its JSON-lines protocol, for tests and the demo.
//
// The child gets PR_SET_PDEATHSIG=SIGKILL (tied to the thread that calls Start, as for
// ZkEnsemble), its stderr goes to a file for failure messages, and the destructor SIGKILLs and
// reaps it if it still runs. Thread-safety: use one AgentProcess from one thread.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace zkspool::testing {

class AgentProcess {
 public:
  // Starts `binary` with `args`. Ignores SIGPIPE process-wide, so that a Send to an agent that
  // died fails instead of killing the caller. Throws std::runtime_error if it cannot be started.
  AgentProcess(const std::string& binary, const std::vector<std::string>& args);
  ~AgentProcess();

  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Writes one request line (a newline is added). False if the agent's stdin is closed.
  bool Send(const std::string& line);
  bool SendJson(const nlohmann::json& request) { return Send(request.dump()); }
  void CloseStdin();

  // The next event line, parsed; nullopt when `timeout` passes or stdout ends first. A line that
  // is not JSON comes back as {"unparsed": line}.
  std::optional<nlohmann::json> NextEvent(std::chrono::milliseconds timeout);
  // Reads events until one satisfies `match` and returns it; nullopt on timeout or end of
  // output. Every event read is also appended to events().
  std::optional<nlohmann::json> WaitFor(const std::function<bool(const nlohmann::json&)>& match,
                                        std::chrono::milliseconds timeout);
  // WaitFor an event whose "event" field is `name`.
  std::optional<nlohmann::json> WaitForEvent(const std::string& name, std::chrono::milliseconds timeout);
  const std::vector<nlohmann::json>& events() const { return events_; }
  // The same lines as the agent wrote them (a number nlohmann cannot hold exactly stays exact).
  const std::vector<std::string>& lines() const { return lines_; }

  void Signal(int signal);
  // SIGKILL and reap. Returns once the process is gone.
  void Kill();
  // Waits for the process to exit; its exit status (128 + signal if killed), or nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  bool Running();
  pid_t pid() const { return pid_; }
  // The agent's stderr so far (its log), the last `max_bytes` of it.
  std::string StderrTail(size_t max_bytes = 4000) const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string pending_;  // bytes read from stdout that do not yet form a line
  bool stdout_ended_ = false;
  std::optional<int> exit_status_;
  std::vector<nlohmann::json> events_;
  std::vector<std::string> lines_;
};

}  // namespace zkspool::testing
