#include "health.h"

#include <fmt/format.h>

#include "duration.h"

namespace zkspool::agent {

Health CheckHealth(const RegistrarStats& stats, std::chrono::milliseconds max_pending_age) {
  Health h;
  if (stats.session_state != SessionState::kConnected) {
    h.problems.push_back(fmt::format("the ZooKeeper session is {}{}", SessionStateName(stats.session_state),
                                     stats.last_error.empty() ? "" : " (" + stats.last_error + ")"));
  }
  if (stats.spool.oldest_pending_age && *stats.spool.oldest_pending_age > max_pending_age) {
    h.problems.push_back(fmt::format("the oldest of {} pending intents has waited {} (more than {})",
                                     stats.spool.pending_count, FormatDuration(*stats.spool.oldest_pending_age),
                                     FormatDuration(max_pending_age)));
  }
  if (stats.spool.failed_count > 0) {
    h.problems.push_back(fmt::format(
        "{} intents are parked as failed (see zkspoolctl pending --failed; retry with POST /v1/retry-failed)",
        stats.spool.failed_count));
  }
  h.healthy = h.problems.empty();
  return h;
}

nlohmann::json Health::ToJson(const RegistrarStats& stats) const {
  std::string reason = "connected, nothing pending for long, no failed intents";
  if (!healthy) {
    reason.clear();
    for (const std::string& p : problems) reason += (reason.empty() ? "" : "; ") + p;
  }
  return {{"healthy", healthy},
          {"reason", reason},
          {"problems", problems},
          {"session_state", SessionStateName(stats.session_state)},
          {"pending", stats.spool.pending_count},
          {"oldest_pending_age_ms",
           stats.spool.oldest_pending_age ? nlohmann::json(stats.spool.oldest_pending_age->count()) : nullptr},
          {"failed", stats.spool.failed_count}};
}

}  // namespace zkspool::agent
