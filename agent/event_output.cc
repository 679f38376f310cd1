#include "event_output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace zkspool::agent {

EventOutput::EventOutput(int fd) : fd_(fd), writer_([this] { WriteLoop(); }) {}

EventOutput::~EventOutput() {
  Abandon();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

void EventOutput::SetFirstOwnSequence(uint64_t seq) {
  std::lock_guard lock(mu_);
  first_own_seq_ = seq;
}

void EventOutput::QueueLocked(std::string line) {
  queue_.push_back(std::move(line));
  ++enqueued_;
  changed_.notify_all();
}

void EventOutput::WaitForRoom() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.size() < kMaxQueued || reader_gone_ || abandoned_; });
}

bool EventOutput::WaitForRoom(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [this] { return queue_.size() < kMaxQueued || reader_gone_ || abandoned_; });
}

void EventOutput::Reply(std::string line, std::optional<uint64_t> acknowledges) {
  std::lock_guard lock(mu_);
  QueueLocked(std::move(line));
  if (!acknowledges) return;
  acknowledged_through_ = std::max(acknowledged_through_, *acknowledges);
  // Also releases events of intents whose append failed although the intent surfaced later.
  while (!held_.empty() && held_.begin()->first <= acknowledged_through_) {
    QueueLocked(std::move(held_.begin()->second));
    held_.erase(held_.begin());
  }
}

void EventOutput::Event(std::string line, std::optional<uint64_t> seq) {
  std::lock_guard lock(mu_);
  if (seq && *seq >= first_own_seq_ && *seq > acknowledged_through_) {
    held_.emplace(*seq, std::move(line));
    return;
  }
  if (queue_.size() >= kMaxQueued) {
    ++dropped_;
    return;
  }
  QueueLocked(std::move(line));
}

bool EventOutput::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  changed_.wait_for(lock, timeout, [&] { return written_ >= target || reader_gone_; });
  return written_ >= target;
}

void EventOutput::Abandon() {
  std::lock_guard lock(mu_);
  abandoned_ = true;
  changed_.notify_all();
}

bool EventOutput::WriteAll(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    pollfd writable{fd_, POLLOUT, 0};
    int ready = ::poll(&writable, 1, 1000);
    if (ready == 0) {
      std::lock_guard lock(mu_);
      if (abandoned_) return false;
      continue;
    }
    if (ready < 0 && errno != EINTR) return false;
    if (ready < 0) continue;
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void EventOutput::WriteLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything is written
    std::string line = std::move(queue_.front());
    queue_.pop_front();
    if (dropped_ > 0 && queue_.size() < kMaxQueued) {
      QueueLocked(R"({"event":"dropped","count":)" + std::to_string(dropped_) + "}");
      dropped_ = 0;
    }
    const bool discard = reader_gone_;
    lock.unlock();
    line += '\n';
    const bool ok = discard || WriteAll(line);
    lock.lock();
    if (!ok) reader_gone_ = true;
    ++written_;
    changed_.notify_all();
  }
}

}  // namespace zkspool::agent
