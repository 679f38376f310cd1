#include "signal_watcher.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace zkspool::agent {
namespace {

sigset_t Handled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher(std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds stop_grace,
                             int forced_exit_status)
    : log_(std::move(log)), grace_(stop_grace), forced_exit_status_(forced_exit_status) {
  sigset_t set = Handled();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this] { Run(); });
}

SignalWatcher::~SignalWatcher() {
  quit_ = true;
  thread_.join();
}

void SignalWatcher::Run() {
  const sigset_t set = Handled();
  // A short wait, so that the thread also sees the grace period end and can be joined.
  const timespec poll{0, 100'000'000};
  while (!quit_) {
    siginfo_t info;
    const int signal = ::sigtimedwait(&set, &info, &poll);
    std::unique_lock lock(mu_);
    if (signal == SIGHUP) {
      reload_ = true;
    } else if (signal == SIGTERM || signal == SIGINT) {
      const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
      if (++stop_signals_ == 1) {
        BeginStopLocked(name);
      } else if (closing_) {
        Force(std::string("a second ") + name + " while closing");
      }
    }
    if (stop_ && !closing_ && std::chrono::steady_clock::now() - stop_at_ > grace_) {
      Force("no orderly stop within " + std::to_string(grace_.count()) + " ms while " + doing_);
    }
    lock.unlock();
    if (signal > 0) changed_.notify_all();
  }
}

void SignalWatcher::RequestStop(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    BeginStopLocked(why);
  }
  changed_.notify_all();
}

void SignalWatcher::BeginStopLocked(const std::string& why) {
  stop_at_ = std::chrono::steady_clock::now();  // the grace period runs from here
  stop_ = true;
  log_->info("{}: stopping", why);
}

void SignalWatcher::Force(const std::string& why) {
  log_->warn("{}: exiting now; the spool keeps every acknowledged intent, the ZooKeeper session is left to time out",
             why);
  log_->flush();
  ::_exit(forced_exit_status_);
}

SignalWatcher::Event SignalWatcher::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [this] { return stop_.load() || reload_; });
  if (stop_) return Event::kStop;
  if (!reload_) return Event::kNone;
  reload_ = false;
  return Event::kReload;
}

void SignalWatcher::Doing(std::string what) {
  std::lock_guard lock(mu_);
  doing_ = std::move(what);
}

void SignalWatcher::Closing() {
  std::lock_guard lock(mu_);
  closing_ = true;
}

}  // namespace zkspool::agent
