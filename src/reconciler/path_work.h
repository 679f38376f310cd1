// One path's progress towards what the spool wants for it: its loaded intents, the intent being
// applied and the state that decides what may happen to it next. Every decision about a path
// (does it hold room in the window, may an intent of it expire now, does a later intent take
// over at once, may the registered node be re-asserted) is one switch over PathState, here.
//
// Invariants:
// - `seqs` are the path's loaded pending intents, ascending; the last is `target` (when there
//   is one); every earlier one is superseded by it and resolves with it.
// - A task exists only in kQueued (about to be sent) and kCallOut (its call is out).
// - `in_doubt` is the intent of a write that got an uncertain answer (connection loss, a closed
//   handle): it may be in ZooKeeper. Any certain answer for the path clears it; until then the
//   intent stays pending and may only expire after a read (Goal::kVerify).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "reconciler/apply_task.h"
#include "reconciler/ready_list.h"
#include "reconciler/seq_queue.h"
#include "zkspool/intent.h"

namespace zkspool {

enum class PathState {
  kQueued,            // its next call waits for room in the window (or for the connection)
  kCallOut,           // a call for it is out: the only state that holds room in the window
  kBackoffConflict,   // another session holds the node, or ZNOAUTH: tried again after a backoff
  kBackoffUncertain,  // its last call's outcome is unknown: tried again shortly, once connected
  kWaitingParent,     // its parent cannot be made yet (an ancestor with an intent of its own, a
                      // missing chroot, a parent create that failed): tried again after a backoff
  kRecording,         // resolved; waits for the spool write that records the outcome
};
inline constexpr int kPathStateCount = 6;
const char* PathStateName(PathState state);

enum class Goal {
  kApply,     // make ZooKeeper hold `target`, the latest pending intent
  kReassert,  // make ZooKeeper hold the registered node `target` (no pending intent)
  kVerify,    // read the node to learn whether the write of `in_doubt` took effect, because it
              // is due to expire and an uncertain write is never forgotten without a read
};

class PathWork {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PathWork(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  PathState state() const { return state_; }

  // Room in the operations window: only a path with a call out holds any.
  bool HoldsWindow() const;
  // Counts towards how many paths may be loaded at once: a path in backoff waits on something
  // outside the process and must not keep other paths from being loaded.
  bool IsActive() const;
  // A later intent replaces the target at once (instead of waiting for the current call).
  bool SupersedesAtOnce() const;
  // Whether the pending intent `seq` of this path may be dropped as expired now. kNo: its call
  // is out or its outcome is being recorded (that outcome decides); kVerifyFirst: an uncertain
  // write may have applied it, so the node must be read first.
  enum class ExpiryVerdict { kDrop, kNo, kVerifyFirst };
  ExpiryVerdict MayExpire(uint64_t seq) const;

  Goal goal = Goal::kApply;
  SeqQueue seqs;
  SpooledIntent target;                   // seqs.back()'s intent, or the registered node
  std::optional<Intent> mode_source;      // mode of the last put loaded (for keep_mode)
  bool mode_source_known = false;         // mode_source was looked up (it may be empty)
  std::unique_ptr<ApplyTask> task;        // applies task_seq's intent (0: a re-assert)
  uint64_t task_seq = 0;
  Step step;                              // the call the task wants next
  std::optional<SpooledIntent> in_doubt;
  bool verify_first = false;              // a re-assert reads before it writes
  bool wrote = false;                     // the task sent a write (a re-assert that fixed something)
  bool alone = false;                     // its create failed a multi: send it on its own
  bool in_multi = false;                  // placed in the multi being built
  bool changed_outside = false;           // a watch saw the node change while its outcome was recorded
  ReadyLink ready_link{this};             // in the reconciler's ready list when linked
  int attempts = 0;                       // backoffs waited out in a row: the next one's exponent
  int parent_tries = 0;                   // parents made for it in a row without the create passing
  Clock::time_point not_before{};
  std::string reason;                     // why it waits (Stats, events)
  size_t counted_bytes = 0;               // its share of the reconciler's tracked bytes

 private:
  friend class PathTable;  // changes state_ only through PathTable::SetState, which counts
  std::string path_;
  PathState state_ = PathState::kQueued;
};

}  // namespace zkspool
