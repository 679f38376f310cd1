#include "zkspool/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "zkspool/session_id.h"

namespace zkspool {
namespace {

// One metric family: its HELP and TYPE lines, then its samples.
class Writer {
 public:
  explicit Writer(const std::string& labels) : labels_(labels) {}

  void Family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // `extra` is more labels for this sample, already formatted ("le=\"0.5\"").
  void Sample(const std::string& name, double value, const std::string& extra = "") {
    std::string all = labels_;
    if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
    out_ += all.empty() ? name : fmt::format("{}{{{}}}", name, all);
    out_ += fmt::format(" {}\n", value);
  }
  void Gauge(const char* name, const char* help, double value) {
    Family(name, "gauge", help);
    Sample(name, value);
  }
  void Counter(const char* name, const char* help, double value) {
    Family(name, "counter", help);
    Sample(name, value);
  }
  std::string Take() { return std::move(out_); }

 private:
  const std::string& labels_;
  std::string out_;
};

}  // namespace

std::string RenderPrometheusText(const RegistrarStats& stats, const std::string& labels) {
  Writer w(labels);
  const SpoolStats& spool = stats.spool;
  w.Gauge("zkspool_pending_intents", "Intents spooled and not yet applied, expired or failed.",
          static_cast<double>(spool.pending_count));
  w.Gauge("zkspool_pending_bytes", "Encoded size of the pending intents.", static_cast<double>(spool.pending_bytes));
  w.Gauge("zkspool_oldest_pending_age_seconds", "Age of the oldest pending intent; 0 when none is pending.",
          spool.oldest_pending_age ? static_cast<double>(spool.oldest_pending_age->count()) / 1000.0 : 0.0);
  w.Gauge("zkspool_registered_nodes", "Nodes in the registered (applied) set.",
          static_cast<double>(spool.registered_count));
  w.Gauge("zkspool_failed_intents", "Intents parked as failed in the spool.", static_cast<double>(spool.failed_count));
  w.Gauge("zkspool_next_sequence", "Sequence number the next intent will get.",
          static_cast<double>(spool.next_sequence));

  w.Family("zkspool_session_state", "gauge", "1 for the ZooKeeper session's current state, 0 for the others.");
  for (SessionState state : {SessionState::kConnecting, SessionState::kConnected, SessionState::kExpired,
                             SessionState::kAuthFailed, SessionState::kClosed}) {
    w.Sample("zkspool_session_state", state == stats.session_state ? 1 : 0,
             fmt::format("state=\"{}\"", SessionStateName(state)));
  }
  // The id goes in a label: as a sample value it would lose precision above 2^53.
  w.Family("zkspool_session_info", "gauge", "The current ZooKeeper session (id and state as labels).");
  w.Sample("zkspool_session_info", 1,
           fmt::format("session_id=\"{}\",state=\"{}\"", FormatSessionId(stats.session_id),
                       SessionStateName(stats.session_state)));
  double connected_since = 0;
  if (stats.connected_since) {
    connected_since = std::chrono::duration<double>(stats.connected_since->time_since_epoch()).count();
  }
  w.Gauge("zkspool_session_connected_since_timestamp_seconds",
          "Unix time the current session connected; 0 while not connected.", connected_since);

  w.Counter("zkspool_sessions_started_total", "New ZooKeeper sessions (not resumptions) since start.",
            static_cast<double>(stats.sessions_started));
  w.Counter("zkspool_applied_total", "Intents applied to ZooKeeper since start.", static_cast<double>(stats.applied));
  w.Counter("zkspool_retried_total", "Operations restarted after connection loss or session expiry.",
            static_cast<double>(stats.retried));
  w.Counter("zkspool_conflicts_total", "Times a path was found held by another session.",
            static_cast<double>(stats.conflicts));
  w.Counter("zkspool_expired_total", "Intents dropped because their TTL ran out.", static_cast<double>(stats.expired));
  w.Counter("zkspool_failed_total", "Intents parked as failed since start.", static_cast<double>(stats.failed));
  w.Counter("zkspool_reasserted_total", "Registered nodes re-created or corrected in ZooKeeper.",
            static_cast<double>(stats.reasserted));
  w.Gauge("zkspool_conflicting_paths", "Paths currently waiting on a conflict.",
          static_cast<double>(stats.conflicting_paths.size()));

  w.Gauge("zkspool_pacer_window_operations", "Operations the pacer lets out at once now (max_in_flight when off).",
          static_cast<double>(stats.pacer_window));
  w.Gauge("zkspool_pacer_latency_seconds", "Call latency the pacer sees (moving average).",
          stats.pacer_latency_ms / 1000.0);
  w.Counter("zkspool_pacer_cuts_total", "Times the pacer halved the window: late calls or a lost connection.",
            static_cast<double>(stats.pacer_cuts));
  w.Counter("zkspool_throttled_seconds_total",
            "Time work was ready but held back by the pacer, the ceiling or the reconnect jitter.",
            static_cast<double>(stats.throttled_ms) / 1000.0);
  w.Gauge("zkspool_operations_in_flight", "ZooKeeper operations sent and not yet answered.",
          static_cast<double>(stats.operations_in_flight));

  const LatencyHistogram& h = stats.apply_latency;
  w.Family("zkspool_apply_latency_seconds", "histogram", "Time from spooling an intent to applying it.");
  uint64_t cumulative = 0;
  for (int i = 0; i < LatencyHistogram::kBuckets - 1; ++i) {
    cumulative += h.counts[i];
    w.Sample("zkspool_apply_latency_seconds_bucket", static_cast<double>(cumulative),
             fmt::format("le=\"{}\"", static_cast<double>(uint64_t{1} << i) / 1000.0));
  }
  cumulative += h.counts[LatencyHistogram::kBuckets - 1];
  w.Sample("zkspool_apply_latency_seconds_bucket", static_cast<double>(cumulative), "le=\"+Inf\"");
  w.Sample("zkspool_apply_latency_seconds_sum", static_cast<double>(h.sum_ms) / 1000.0);
  w.Sample("zkspool_apply_latency_seconds_count", static_cast<double>(cumulative));
  return w.Take();
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  // A fresh name created exclusively: at a name known in advance, a FIFO put there blocked the
  // write (and with it the agent's close), and a link made us truncate its target.
  std::string temp = path + ".tmp.XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return Status::IOError(fmt::format("cannot create {}: {}", temp, std::strerror(errno)));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status error = Status::IOError(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
      ::close(fd);
      ::unlink(temp.c_str());
      return error;
    }
    done += static_cast<size_t>(n);
  }
  // fchmod: the umask must not make the file unreadable for the collector.
  int failed = ::fchmod(fd, 0644) != 0 ? errno : 0;
  if (::close(fd) != 0 && failed == 0) failed = errno;
  if (failed != 0) {
    ::unlink(temp.c_str());
    return Status::IOError(fmt::format("cannot finish {}: {}", temp, std::strerror(failed)));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status error = Status::IOError(fmt::format("cannot rename {} to {}: {}", temp, path, std::strerror(errno)));
    ::unlink(temp.c_str());
    return error;
  }
  return Status::Ok();
}

}  // namespace zkspool
