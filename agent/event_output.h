// Where the agent's events go: one JSON line each on a file descriptor (stdout), written by one
// thread so that no caller ever blocks on a slow reader, except as backpressure on requests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace zkspool::agent {

class EventOutput {
 public:
  // Lines beyond this many waiting are handled as Reply and Event say.
  static constexpr size_t kMaxQueued = 100'000;

  explicit EventOutput(int fd);
  // Writes what is queued, then stops the writer thread.
  ~EventOutput();

  EventOutput(const EventOutput&) = delete;
  EventOutput& operator=(const EventOutput&) = delete;

  // A reply to a request: never dropped; waits while kMaxQueued lines are waiting, so a client
  // that sends without reading is slowed down rather than the agent running out of memory.
  void Reply(std::string line);
  // An unsolicited event: never waits (the reconciler thread calls this); dropped when
  // kMaxQueued lines are waiting. The count of dropped events is reported as
  // {"event":"dropped","count":N} once the queue has room again.
  void Event(std::string line);
  // Returns once every line queued so far is written (or the reader is gone).
  void Flush();

 private:
  void WriteLoop();
  bool WriteAll(const std::string& line);

  const int fd_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  uint64_t dropped_ = 0;
  uint64_t written_ = 0;   // lines taken off the queue and written
  uint64_t enqueued_ = 0;  // lines ever queued
  bool stopping_ = false;
  bool reader_gone_ = false;  // EPIPE: the rest is discarded, the agent keeps running
  std::thread writer_;
};

}  // namespace zkspool::agent
