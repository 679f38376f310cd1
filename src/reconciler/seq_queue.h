// A path's loaded pending sequence numbers, ascending: appended at the back, resolved from the
// front. Almost every path holds one, so this is a vector with a moving front rather than a
// std::deque, which allocates a 512-byte block for its first element (with 100,000 paths
// tracked, 50 MiB touched for 0.8 MiB of numbers). Popped slots are reclaimed once they are
// the larger half, so the cost stays amortized O(1) for a path with a long queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zkspool {

class SeqQueue {
 public:
  using const_iterator = std::vector<uint64_t>::const_iterator;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  uint64_t front() const { return items_[head_]; }
  uint64_t back() const { return items_.back(); }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }

  void push_back(uint64_t seq) { items_.push_back(seq); }
  void pop_front() {
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && 2 * head_ >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void erase(const_iterator pos) {
    items_.erase(pos);
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
  }

 private:
  std::vector<uint64_t> items_;
  size_t head_ = 0;
};

}  // namespace zkspool
