#include "harness/agent_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace zkspool::testing {
namespace {

using Clock = std::chrono::steady_clock;

int StatusFromWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

AgentProcess::AgentProcess(const std::string& binary, const std::vector<std::string>& args) {
  ::signal(SIGPIPE, SIG_IGN);  // a Send to an agent that died returns false instead
  std::string templ = (std::filesystem::temp_directory_path() / "zkspool-agent-stderr-XXXXXX").string();
  int err_fd = ::mkstemp(templ.data());
  if (err_fd < 0) throw std::runtime_error("mkstemp: " + std::string(std::strerror(errno)));
  stderr_path_ = templ;
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  }
  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    // The parent may block signals (the demo does); the agent must start with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err_fd);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
}

AgentProcess::~AgentProcess() {
  if (Running()) Kill();
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  ::unlink(stderr_path_.c_str());
}

bool AgentProcess::Send(const std::string& line) {
  if (stdin_fd_ < 0) return false;
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(stdin_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void AgentProcess::CloseStdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<nlohmann::json> AgentProcess::NextEvent(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (size_t nl = pending_.find('\n'); nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
      if (event.is_discarded()) event = {{"unparsed", line}};
      events_.push_back(event);
      lines_.push_back(line);
      return event;
    }
    if (stdout_ended_) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd fd{stdout_fd_, POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[65536];
    ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      stdout_ended_ = true;
      continue;
    }
    pending_.append(buffer, static_cast<size_t>(n));
  }
}

std::optional<nlohmann::json> AgentProcess::WaitFor(const std::function<bool(const nlohmann::json&)>& match,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) return std::nullopt;
    std::optional<nlohmann::json> event = NextEvent(left);
    if (!event) return std::nullopt;
    if (match(*event)) return event;
  }
}

std::optional<nlohmann::json> AgentProcess::WaitForEvent(const std::string& name, std::chrono::milliseconds timeout) {
  return WaitFor([&](const nlohmann::json& e) { return e.value("event", "") == name; }, timeout);
}

void AgentProcess::Signal(int signal) {
  if (Running()) ::kill(pid_, signal);
}

void AgentProcess::Kill() {
  if (!Running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = StatusFromWait(status);
}

std::optional<int> AgentProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_status_;
}

bool AgentProcess::Running() {
  if (exit_status_ || pid_ < 0) return false;
  int status = 0;
  pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_status_ = StatusFromWait(status);
    return false;
  }
  return true;
}

std::string AgentProcess::StderrTail(size_t max_bytes) const {
  std::ifstream in(stderr_path_);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace zkspool::testing
