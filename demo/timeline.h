// What the live demo saw, when: milestones (a leader killed, an election over, a session
// state) and per-registration spooled/applied times, printed as one timeline.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace zkspool::demo {

class Timeline {
 public:
  using Clock = std::chrono::steady_clock;

  Timeline() : start_(Clock::now()) {}

  // Thread-safe: the leader watcher thread adds milestones too.
  void Milestone(const std::string& text);
  void Sent(const std::string& path);
  void Spooled(const std::string& path);
  void Applied(const std::string& path);

  // Every `bucket`: registrations spooled and applied in it and the backlog (spooled, not yet
  // applied) at its end, labelled with its end time and a bar; milestones before the row of the
  // bucket they fall in. Only buckets in which
  // something happened, or with a backlog, are printed.
  void Print(std::chrono::milliseconds bucket) const;
  // Longest time from request sent to "spooled" received (what a caller waits), and from
  // spooled to applied.
  std::chrono::milliseconds MaxSentToSpooled() const;
  std::chrono::milliseconds MaxSpooledToApplied() const;

 private:
  double Seconds(Clock::time_point t) const { return std::chrono::duration<double>(t - start_).count(); }

  const Clock::time_point start_;
  mutable std::mutex mu_;
  std::vector<std::pair<Clock::time_point, std::string>> milestones_;
  static std::chrono::milliseconds MaxGap(const std::map<std::string, Clock::time_point>& from,
                                         const std::map<std::string, Clock::time_point>& to);

  std::map<std::string, Clock::time_point> sent_;
  std::map<std::string, Clock::time_point> spooled_;
  std::map<std::string, Clock::time_point> applied_;
};

}  // namespace zkspool::demo
