// SIGTERM, SIGINT and SIGHUP for the agent, honoured at any moment. The agent used to take them
// with sigtimedwait in its main loop only, so during start-up and reloads they waited: a
// registrations file that was a FIFO without a writer blocked start-up forever with SIGTERM
// ignored. A thread of its own now waits for them from the start. The agent checks for a stop
// between the steps of its start-up and reloads; should a step not return in time (a hung file
// system, a DNS lookup inside the ZooKeeper client), the watcher ends the process itself once
// the grace period is over, as a kill -9 would, which the spool is built to survive. Once the
// agent closes in order nothing is forced, unless a second SIGTERM or SIGINT asks for it.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace zkspool::agent {

class SignalWatcher {
 public:
  enum class Event { kNone, kReload, kStop };

  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, and so in every thread started after
  // it, and starts the thread that waits for them: create it before any other thread. A forced
  // stop exits with `forced_exit_status`.
  SignalWatcher(std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds stop_grace, int forced_exit_status);
  ~SignalWatcher();

  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Waits up to `timeout` for a signal: kStop once SIGTERM or SIGINT arrived (on every call
  // from then on), else kReload if SIGHUP arrived since the last call (several count as one).
  Event Wait(std::chrono::milliseconds timeout);
  bool stop_requested() const { return stop_.load(); }
  // A stop asked from inside (a leave request), taken as a first SIGTERM: never as the second
  // one that forces an exit while closing, whenever it comes. Thread-safe.
  void RequestStop(const std::string& why);
  // What the agent is doing now, named if a stop has to be forced.
  void Doing(std::string what);
  // The agent has begun its orderly close: no stop is forced from now on, except on a second
  // SIGTERM or SIGINT.
  void Closing();

 private:
  void Run();
  // A first stop, by a signal or from inside; mu_ held.
  void BeginStopLocked(const std::string& why);
  void Force(const std::string& why);

  std::shared_ptr<spdlog::logger> log_;
  const std::chrono::milliseconds grace_;
  const int forced_exit_status_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> quit_{false};
  std::mutex mu_;
  std::condition_variable changed_;
  bool reload_ = false;
  bool closing_ = false;
  int stop_signals_ = 0;
  std::string doing_ = "starting";
  std::chrono::steady_clock::time_point stop_at_;
  std::thread thread_;
};

}  // namespace zkspool::agent
