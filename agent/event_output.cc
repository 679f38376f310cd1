#include "event_output.h"

#include <unistd.h>

#include <cerrno>

namespace zkspool::agent {

EventOutput::EventOutput(int fd) : fd_(fd), writer_([this] { WriteLoop(); }) {}

EventOutput::~EventOutput() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

void EventOutput::Reply(std::string line) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.size() < kMaxQueued || reader_gone_; });
  queue_.push_back(std::move(line));
  ++enqueued_;
  changed_.notify_all();
}

void EventOutput::Event(std::string line) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= kMaxQueued) {
    ++dropped_;
    return;
  }
  if (dropped_ > 0) {
    queue_.push_back(R"({"event":"dropped","count":)" + std::to_string(dropped_) + "}");
    ++enqueued_;
    dropped_ = 0;
  }
  queue_.push_back(std::move(line));
  ++enqueued_;
  changed_.notify_all();
}

void EventOutput::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  changed_.wait(lock, [&] { return written_ >= target || reader_gone_; });
}

bool EventOutput::WriteAll(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
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
    lock.unlock();
    line += '\n';
    bool ok = reader_gone_ || WriteAll(line);
    lock.lock();
    if (!ok) reader_gone_ = true;
    ++written_;
    changed_.notify_all();
  }
}

}  // namespace zkspool::agent
