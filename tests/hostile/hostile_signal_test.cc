// The agent's SignalWatcher (agent/signal_watcher.h) on its own, in a child process each: a stop
// asked for while a step hangs ends the process after the grace period; once the agent closes in
// order nothing is forced, unless a second stop signal asks for it.
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/logger.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "signal_watcher.h"

namespace zkspool::agent {
namespace {

using namespace std::chrono_literals;
constexpr int kForced = 7;

// Runs `body` with a SignalWatcher (grace 300 ms) in a child; its exit status, or nullopt if it
// is still running after `within` (then it is killed).
std::optional<int> InChild(const std::function<void(SignalWatcher&)>& body, std::chrono::milliseconds within) {
  pid_t child = ::fork();
  if (child == 0) {
    SignalWatcher watcher(std::make_shared<spdlog::logger>("quiet"), 300ms, kForced);
    body(watcher);
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(10ms);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return std::nullopt;
}

TEST(HostileSignalTest, AStopWhileAStepHangsEndsTheProcessAfterTheGrace) {
  auto exit = InChild(
      [](SignalWatcher& w) {
        w.Doing("a step that never returns");
        ::kill(::getpid(), SIGTERM);
        std::this_thread::sleep_for(30s);
      },
      5s);
  ASSERT_TRUE(exit.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*exit, kForced);
}

TEST(HostileSignalTest, AnOrderlyCloseIsNotCutShort) {
  auto exit = InChild(
      [](SignalWatcher& w) {
        ::kill(::getpid(), SIGTERM);
        while (w.Wait(1s) != SignalWatcher::Event::kStop) {
        }
        w.Closing();
        std::this_thread::sleep_for(1s);  // closing takes longer than the grace: allowed
      },
      5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(*exit, 0);
}

TEST(HostileSignalTest, ASecondStopSignalWhileClosingEndsTheProcess) {
  auto exit = InChild(
      [](SignalWatcher& w) {
        ::kill(::getpid(), SIGTERM);
        while (w.Wait(1s) != SignalWatcher::Event::kStop) {
        }
        w.Closing();
        ::kill(::getpid(), SIGINT);
        std::this_thread::sleep_for(30s);
      },
      5s);
  ASSERT_TRUE(exit.has_value()) << "a second signal while closing was ignored";
  EXPECT_EQ(*exit, kForced);
}

TEST(HostileSignalTest, SighupIsAReloadAndNotAStop) {
  auto exit = InChild(
      [](SignalWatcher& w) {
        ::kill(::getpid(), SIGHUP);
        if (w.Wait(5s) != SignalWatcher::Event::kReload) ::_exit(10);
        if (w.stop_requested()) ::_exit(11);
      },
      10s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(*exit, 0);
}

}  // namespace
}  // namespace zkspool::agent
