// Where WaitApplied learns outcomes. The reconciler announces seqs before the spool write that
// records them (Recording) and publishes their outcomes after it (Publish), so a waiter that
// finds its intent gone from the spool always finds it recording or resolved here, and the
// spool write itself never happens under this board's lock.
//
// Memory is bounded: the most recent kMaxRemembered outcomes are kept (about 50 bytes each),
// plus those of tickets a waiter is waiting for right now.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "zkspool/registrar.h"

namespace zkspool {

class OutcomeBoard {
 public:
  static constexpr size_t kMaxRemembered = 20'000;

  void Recording(std::span<const uint64_t> seqs);
  void Publish(std::span<const std::pair<uint64_t, Outcome>> outcomes);
  // Waiters give up with kInvalidArgument from now on.
  void Close();

  // Waits for `ticket`'s outcome until `timeout`. `issued_below`: no ticket at or above it was
  // ever handed out; `is_pending` asks the spool (called without the board's lock).
  // Errors: kNotFound (never issued, or resolved so long ago that its outcome is forgotten),
  // kTimedOut, kInvalidArgument after Close.
  Result<Outcome> Wait(uint64_t ticket, std::chrono::milliseconds timeout, uint64_t issued_below,
                       const std::function<bool(uint64_t)>& is_pending);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, Outcome> resolved_;
  std::deque<uint64_t> order_;  // resolved_ keys, oldest first
  std::unordered_set<uint64_t> recording_;
  std::unordered_multiset<uint64_t> waited_for_;
  bool closed_ = false;
};

}  // namespace zkspool
