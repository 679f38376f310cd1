#include "systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>

namespace zkspool::agent {

SystemdNotifier::SystemdNotifier() {
  uint64_t usec = 0;
  // 0 = "do not unset the variables": children (none here) would need them, and tests read them.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::milliseconds(std::max<uint64_t>(usec / 2000, 1));
  }
}

// A failure to notify is not the agent's problem to solve: systemd acts on the missing message
// (a start timeout, a watchdog restart), which is the right reaction.
void SystemdNotifier::Notify(const std::string& state) const { sd_notify(0, state.c_str()); }

void SystemdNotifier::Ready(const std::string& status) const { Notify("READY=1\nSTATUS=" + status); }
void SystemdNotifier::Stopping(const std::string& status) const { Notify("STOPPING=1\nSTATUS=" + status); }
void SystemdNotifier::Status(const std::string& status) const { Notify("STATUS=" + status); }
void SystemdNotifier::Watchdog() const { Notify("WATCHDOG=1"); }

}  // namespace zkspool::agent
