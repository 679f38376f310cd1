#include "timeline.h"

#include <algorithm>
#include <cstdio>

namespace zkspool::demo {

void Timeline::Milestone(const std::string& text) {
  std::lock_guard lock(mu_);
  milestones_.emplace_back(Clock::now(), text);
  std::printf("  %7.3fs  %s\n", Seconds(milestones_.back().first), text.c_str());
  std::fflush(stdout);
}

void Timeline::Sent(const std::string& path) {
  std::lock_guard lock(mu_);
  sent_.emplace(path, Clock::now());
}

void Timeline::Spooled(const std::string& path) {
  std::lock_guard lock(mu_);
  spooled_.emplace(path, Clock::now());
}

void Timeline::Applied(const std::string& path) {
  std::lock_guard lock(mu_);
  applied_.emplace(path, Clock::now());
}

std::chrono::milliseconds Timeline::MaxGap(const std::map<std::string, Clock::time_point>& from,
                                           const std::map<std::string, Clock::time_point>& to) {
  Clock::duration longest{};
  for (const auto& [path, at] : to) {
    auto start = from.find(path);
    if (start != from.end()) longest = std::max(longest, at - start->second);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(longest);
}

std::chrono::milliseconds Timeline::MaxSentToSpooled() const {
  std::lock_guard lock(mu_);
  return MaxGap(sent_, spooled_);
}

std::chrono::milliseconds Timeline::MaxSpooledToApplied() const {
  std::lock_guard lock(mu_);
  return MaxGap(spooled_, applied_);
}

void Timeline::Print(std::chrono::milliseconds bucket) const {
  std::lock_guard lock(mu_);
  if (spooled_.empty()) return;
  Clock::time_point first = Clock::time_point::max();
  Clock::time_point last = Clock::time_point::min();
  for (const auto* times : {&spooled_, &applied_}) {
    for (const auto& [path, at] : *times) {
      first = std::min(first, at);
      last = std::max(last, at);
    }
  }
  std::printf("\n  until     spooled  applied  backlog (spooled, not yet in ZooKeeper)\n");
  size_t milestone = 0;
  while (milestone < milestones_.size() && milestones_[milestone].first < first) ++milestone;
  int64_t backlog = 0;
  for (Clock::time_point from = first; from <= last; from += bucket) {
    const Clock::time_point to = from + bucket;
    for (; milestone < milestones_.size() && milestones_[milestone].first < to; ++milestone) {
      std::printf("  %7.3fs  ---- %s\n", Seconds(milestones_[milestone].first), milestones_[milestone].second.c_str());
    }
    auto count = [&](const std::map<std::string, Clock::time_point>& times) {
      return std::count_if(times.begin(), times.end(), [&](const auto& e) { return e.second >= from && e.second < to; });
    };
    const int64_t spooled = count(spooled_);
    const int64_t applied = count(applied_);
    backlog += spooled - applied;
    if (spooled == 0 && applied == 0 && backlog <= 0) continue;
    std::string bar(static_cast<size_t>(std::clamp<int64_t>(backlog / 4, 0, 60)), '#');
    std::printf("  %7.3fs  %7lld  %7lld  %7lld %s\n", Seconds(to), static_cast<long long>(spooled),
                static_cast<long long>(applied), static_cast<long long>(std::max<int64_t>(backlog, 0)), bar.c_str());
  }
  for (; milestone < milestones_.size(); ++milestone) {
    std::printf("  %7.3fs  ---- %s\n", Seconds(milestones_[milestone].first), milestones_[milestone].second.c_str());
  }
}

}  // namespace zkspool::demo
