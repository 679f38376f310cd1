// Tells systemd how the agent is doing (Type=notify, sd_notify(3) through libsystemd): READY once
// the spool is open and the registrations file applied, STOPPING when it starts to stop, a STATUS
// line for `systemctl status`, and WATCHDOG keep-alives when the unit sets WatchdogSec. Outside
// systemd (no NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace zkspool::agent {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC of this process. Thread-safe (all functions).
  SystemdNotifier();

  void Ready(const std::string& status) const;
  void Stopping(const std::string& status) const;
  void Status(const std::string& status) const;
  void Watchdog() const;
  // How often Watchdog must be called (half the unit's WatchdogSec), if the unit set one.
  std::optional<std::chrono::milliseconds> WatchdogInterval() const { return watchdog_interval_; }

 private:
  void Notify(const std::string& state) const;

  std::optional<std::chrono::milliseconds> watchdog_interval_;
};

}  // namespace zkspool::agent
