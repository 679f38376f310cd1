// Where the agent's events go: one JSON line each on a file descriptor (stdout), written by one
// thread so that no caller ever blocks on a slow reader, except as backpressure on requests.
//
// Ordering: a reply that acknowledges sequence number N ("spooled") is always written before any
// event about N, although the reconciler may apply N before the appending thread has queued its
// reply. Events carrying a sequence number not yet acknowledged are held back until it is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace zkspool::agent {

class EventOutput {
 public:
  // Lines beyond this many waiting are handled as Reply and Event say.
  static constexpr size_t kMaxQueued = 100'000;

  explicit EventOutput(int fd);
  // Stops waiting (see Abandon) and joins the writer thread; what is still queued is lost.
  ~EventOutput();

  EventOutput(const EventOutput&) = delete;
  EventOutput& operator=(const EventOutput&) = delete;

  // Sequence numbers from `seq` on are this run's: their events wait for their "spooled" reply.
  // Events for lower ones (intents spooled by an earlier run) go out at once.
  void SetFirstOwnSequence(uint64_t seq);

  // A reply to a request, or a line about the agent itself: never dropped, never waits.
  // `acknowledges` is the sequence number a "spooled" reply acknowledges: held-back events up to
  // it follow it. Replies must be queued in the order their sequence numbers were issued.
  void Reply(std::string line, std::optional<uint64_t> acknowledges = std::nullopt);
  // Waits while kMaxQueued lines are waiting (or until Abandon), so that a client that sends
  // without reading is slowed down rather than the agent running out of memory.
  void WaitForRoom();
  // The same for at most `timeout`: false if there is still no room then.
  bool WaitForRoom(std::chrono::milliseconds timeout);
  // An unsolicited event about sequence number `seq` (if any): never waits (the reconciler
  // thread calls this); dropped when kMaxQueued lines are waiting. The count of dropped events
  // is reported as {"event":"dropped","count":N} as soon as there is room again.
  void Event(std::string line, std::optional<uint64_t> seq = std::nullopt);
  // Waits until every line queued so far is written, the reader is gone, or `timeout` passes.
  // Returns true if everything was written.
  bool Flush(std::chrono::milliseconds timeout);
  // From now on nothing waits for the reader: Reply queues beyond the limit and a write that
  // cannot proceed for a second gives up (and with it the rest). For shutdown.
  void Abandon();

 private:
  void WriteLoop();
  bool WriteAll(const std::string& line);
  void QueueLocked(std::string line);

  const int fd_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::multimap<uint64_t, std::string> held_;  // events waiting for their "spooled" reply
  uint64_t first_own_seq_ = UINT64_MAX;
  uint64_t acknowledged_through_ = 0;
  uint64_t dropped_ = 0;
  uint64_t written_ = 0;   // lines taken off the queue and written
  uint64_t enqueued_ = 0;  // lines ever queued
  bool stopping_ = false;
  bool abandoned_ = false;
  bool reader_gone_ = false;  // EPIPE or abandoned: the rest is discarded, the agent keeps running
  std::thread writer_;
};

}  // namespace zkspool::agent
