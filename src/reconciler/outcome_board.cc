#include "reconciler/outcome_board.h"

#include <string>

namespace zkspool {

void OutcomeBoard::Recording(std::span<const uint64_t> seqs) {
  std::lock_guard lock(mu_);
  recording_.insert(seqs.begin(), seqs.end());
}

void OutcomeBoard::Publish(std::span<const std::pair<uint64_t, Outcome>> outcomes) {
  if (outcomes.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (const auto& [seq, outcome] : outcomes) {
      recording_.erase(seq);
      if (resolved_.insert_or_assign(seq, outcome).second) order_.push_back(seq);
    }
    for (size_t looked = 0, n = order_.size(); resolved_.size() > kMaxRemembered && looked < n; ++looked) {
      const uint64_t oldest = order_.front();
      order_.pop_front();
      if (waited_for_.count(oldest)) {
        order_.push_back(oldest);  // its waiter has not seen it yet
      } else {
        resolved_.erase(oldest);
      }
    }
  }
  cv_.notify_all();
}

void OutcomeBoard::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

Result<Outcome> OutcomeBoard::Wait(uint64_t ticket, std::chrono::milliseconds timeout, uint64_t issued_below,
                                   const std::function<bool(uint64_t)>& is_pending) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(24 * 365));
  auto not_found = [ticket] {
    return Status::NotFound("ticket " + std::to_string(ticket) +
                            " is not pending and its outcome is not known (it was resolved before this "
                            "registrar was opened or long ago, or never issued)");
  };
  if (ticket == 0 || ticket >= issued_below) return not_found();
  std::unique_lock lock(mu_);
  waited_for_.insert(ticket);
  struct Unregister {
    OutcomeBoard* board;
    uint64_t ticket;
    ~Unregister() { board->waited_for_.erase(board->waited_for_.find(ticket)); }
  } unregister{this, ticket};
  bool checked_pending = false;
  for (;;) {
    if (auto it = resolved_.find(ticket); it != resolved_.end()) return it->second;
    if (closed_) return Status::InvalidArgument("the registrar is closed");
    if (!recording_.count(ticket) && !checked_pending) {
      // Once seen pending, its outcome will be published here: no need to ask the spool again.
      lock.unlock();
      const bool pending = is_pending(ticket);
      lock.lock();
      if (resolved_.count(ticket) || recording_.count(ticket)) continue;
      if (!pending) return not_found();
      checked_pending = true;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (auto it = resolved_.find(ticket); it != resolved_.end()) return it->second;
      return Status::TimedOut("ticket " + std::to_string(ticket) + " is not resolved yet");
    }
  }
}

}  // namespace zkspool
