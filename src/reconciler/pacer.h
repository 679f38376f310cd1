// How much the reconciler may have in flight, so that a fleet of hosts recovering from the same
// outage does not drive the ensemble it depends on into session expiries.
//
// A host that drains its backlog as fast as it can sends up to max_in_flight operations at once;
// a hundred hosts doing it together queue more than the servers' outstanding limit, the servers
// stop reading client sockets, pings go unread, latency passes the session timeout and sessions
// expire (issue 13's measurements). What a host may have in flight is therefore sized from the
// latency it observes, against the negotiated session timeout, by AIMD:
//   - after a (re)connect it starts small and doubles per round trip (slow start) up to the
//     threshold of the last cut, then grows by max_window/16 per round trip;
//   - while calls complete within kGrowBelow of the session timeout it keeps growing, between
//     that and kCutAbove it holds, and past kCutAbove (or on a connection loss) it halves, at
//     most once per round trip (calls sent after the last cut must see it first);
//   - a call still out past kCutAbove counts as that latency already: the pacer does not wait
//     for answers that a queue holds back.
// Our own pings wait behind what we have queued on the same connection, so keeping our calls'
// latency at a sixth of the session timeout keeps them far from the client's connection-loss
// deadline (two thirds) and the server's expiry (the whole timeout).
// An optional hard ceiling of operations per second (a token bucket) comes on top.
//
// Pure logic on a clock passed in: no I/O, no threads. Not thread-safe (the reconciler thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace zkspool {

// Whole milliseconds from `from` to `to`, for messages.
inline int64_t MsBetween(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr double kCutAbove = 1.0 / 6;   // of the session timeout
  static constexpr double kGrowBelow = 1.0 / 20;
  static constexpr size_t kInitialWindow = 64;

  // `max_window`: max_in_flight. `ops_per_second` 0: no ceiling. `enabled` false: the window
  // stays at max_window and nothing is cut (for comparison; not for production).
  Pacer(size_t max_window, double ops_per_second, bool enabled);

  // The negotiated session timeout, which the latency targets are fractions of.
  void SetSessionTimeout(std::chrono::milliseconds timeout);
  // A connection (new or resumed): start small again, doubling up to where the last cut left the
  // window (a connection loss cuts it: OnConnectionLoss).
  void Restart();

  // A call of `ops` operations sent at `sent` was answered at `now` (any answer).
  void OnAnswer(size_t ops, Clock::time_point sent, Clock::time_point now);
  // The connection was lost with calls out: the loudest signal there is.
  void OnConnectionLoss(Clock::time_point now);
  // The oldest call still out was sent at `sent`: past kCutAbove it counts as that latency.
  void OnOldestOut(Clock::time_point sent, Clock::time_point now);

  // Operations that may be out at once now.
  size_t window() const { return static_cast<size_t>(window_); }
  // With a ceiling: operations that may be sent now (the bucket's tokens); SIZE_MAX without.
  size_t Allowance(Clock::time_point now);
  void Spend(size_t ops);
  // When the bucket next holds a token (now if it holds one).
  Clock::time_point NextToken(Clock::time_point now) const;

  // What Stats shows.
  double latency_ms() const { return latency_ewma_ms_; }
  uint64_t cuts() const { return cuts_; }
  bool enabled() const { return enabled_; }

 private:
  void Cut(Clock::time_point now);
  double CutAboveMs() const { return timeout_ms_ * kCutAbove; }
  double GrowBelowMs() const { return timeout_ms_ * kGrowBelow; }
  // A second's worth of operations, at least one, so that a ceiling below 1/s still sends.
  double BucketSize() const { return std::max(1.0, ops_per_second_); }

  const double max_window_;
  const double ops_per_second_;
  const bool enabled_;
  double timeout_ms_ = 10'000;
  double window_;
  double threshold_;                  // slow start ends here (the window at the last cut)
  Clock::time_point last_cut_{};      // calls sent before it do not cut again
  double latency_ewma_ms_ = 0;
  uint64_t cuts_ = 0;
  double tokens_ = 0;
  Clock::time_point refilled_{};
};

}  // namespace zkspool
