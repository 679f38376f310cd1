// The reconciler thread: applies pending intents to ZooKeeper and keeps registered nodes there.
//
// One thread owns all apply state; ZooKeeper completions and watcher events only enqueue and wake
// it. Each path's progress is one PathWork in one PathState (path_work.h), owned by the
// PathTable; every decision about a path is a switch over that state. Intents of a path are
// applied in sequence order; a later intent supersedes the ones before it (they resolve with it).
//
// The code is split by concern:
//   reconciler.cc      the loop, Start/Stop, Stats, events
//   session_events.cc  connection and session events, expiry of the session, closing a handle
//   pipeline.cc        what is sent: loading intents, streaming the registered set, the window,
//                      multis, parents made ahead
//   completions.cc     what comes back: each answer moves its path to its next state
//   outcomes.cc        recording outcomes in the spool (written by an OutcomeRecorder on its own
//                      thread), waking waiters, expiring intents
//
// Bounds (none grows with the backlog or the registered set): paths loaded and active at most
// max(4 x max_in_flight, 1000); paths tracked at most kMaxTrackedPaths and kMaxTrackedBytes;
// operations in flight at most max_in_flight; the registered set is streamed through the same
// window, never copied. An idle tick costs what is due, not what is pending.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "reconciler/ancestors.h"
#include "reconciler/apply_task.h"
#include "reconciler/outcome_board.h"
#include "reconciler/outcome_recorder.h"
#include "reconciler/pacer.h"
#include "reconciler/path_table.h"
#include "reconciler/ready_list.h"
#include "zkspool/session_id.h"
#include "zk/chroot_maker.h"
#include "zk/zk_calls.h"
#include "zk/zk_session.h"
#include "zkspool/registrar.h"

namespace spdlog {
class logger;
}

namespace zkspool {

// Hashes a std::string and a std::string_view alike, so a set of strings can be searched with a
// view (a prefix of a path) without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Reconciler : public CompletionSink {
 public:
  Reconciler(RegistrarOptions options, std::shared_ptr<Spool> spool, std::shared_ptr<spdlog::logger> log);
  ~Reconciler() override;

  // Starts the session (resuming the spool's saved one) and the thread.
  Status Start();
  // Something was appended: look at the spool again.
  void Notify();
  // Something else wants the loop (an event, a written batch): the spool has nothing new.
  void Wake();
  Result<Outcome> WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout);
  RegistrarStats Stats() const;
  // Stops issuing, waits for in-flight calls (at most the session timeout), stops the thread,
  // then ends or abandons the session.
  void Stop(Registrar::CloseMode mode);

  void Deliver(Completion completion) override;

 private:
  using Clock = std::chrono::steady_clock;

  // What a call out is for. A path with a call out is never erased (PathWork::HoldsWindow), so
  // its PathWork is held by pointer until the answer comes.
  struct Call {
    enum class Kind { kPath, kMulti, kParent } kind = Kind::kPath;
    std::vector<PathWork*> works;  // kPath: one; kMulti: its creates, in op order
    std::string parent;            // kParent
    size_t ops = 1;                // what it weighs in the window
    Clock::time_point sent{};      // for the pacer's latency
  };
  // The registered set, streamed through the window after a new session (ephemerals created
  // first) or for anti-entropy (every node read first).
  struct RegisteredScan {
    bool active = false;
    bool create_first = false;
    std::string after;  // the last path pulled
    // The registered set as the pass began: what is applied during the pass is on the current
    // session already (a pass that ran over a drain re-created every node just made).
    std::shared_ptr<const SpoolSnapshot> since;
  };
  // An outcome waiting for the spool write that records it. Its path stays in kRecording until
  // then, and a path in kRecording is erased only once its record is written (AfterResolution).
  struct Record {
    PathWork* work;
    Outcome outcome;
    std::vector<uint64_t> seqs;
    std::optional<SpooledIntent> node;  // kApplied: what is registered now (empty: deleted)
    std::string reason;                 // kFailed
  };

  // reconciler.cc
  void Run();
  Clock::time_point NextDeadline(Clock::time_point now) const;
  void Emit(RegistrarEvent event);
  void DeliverEvents();
  void PublishStats();
  void HandBackMemory();
  int64_t NowMs() const { return spool_->NowMs(); }

  // session_events.cc
  void HandleEvents(const std::vector<ZkEvent>& events);
  void OnConnected();
  void MarkDisconnected(Clock::time_point now);
  void ReportUnreachable(Clock::time_point now);
  void ReplaceExpiredSession();
  void CloseHandle();
  void SaveSession();
  void SetSessionState(SessionState state);

  // pipeline.cc
  // Whether the limits on loaded paths leave room for more (LoadPending, PullRegistered).
  bool MayLoadMore() const;
  size_t TrackedBytesRoom() const;
  void LoadPending();
  void AddIntent(SpooledIntent intent);
  void StartScan(bool create_first);
  void PullRegistered();
  void Reassert(const SpooledIntent& node, bool verify_first);
  // A node of ours that may have changed from outside: read first, then made what the
  // registered set holds for `path` (nothing when it holds no node there).
  void ReassertRegistered(const std::string& path);
  void IssueReady();
  void WakeDelayed(Clock::time_point now);
  bool Prepare(PathWork& work);
  void IssueOne(PathWork& work);
  void IssueMulti(std::vector<PathWork*>& multi);
  void IssueParents(const std::vector<std::string>& parents, const Intent& acl_of);
  bool HasOwnPut(std::string_view path) const;
  // Whether `path` is in the multi being built.
  bool InMulti(std::string_view path) const;
  AncestorPlan Plan(const std::string& path) const;
  void WatchApplied();
  // Whether a watch may be left on `path` now (within max_watches); counts it if so.
  bool TakeWatch(const std::string& path);
  void MakeReady(PathWork& work, bool front = false);
  uint64_t Submit(Call call, size_t ops);
  // Operations that may be sent now: the pacer's window less what is out, within its ceiling.
  size_t Room(Clock::time_point now);
  void NoteThrottled(bool throttled, Clock::time_point now);
  // After a pacer call that cut the window from `before`: logs it (the first and every 100th
  // time) and emits kPaced.
  void EmitCut(size_t before, std::string_view why);
  Clock::duration Jitter(Clock::duration up_to);

  // completions.cc
  void HandleCompletion(const Completion& c);
  void OnPathAnswer(PathWork& work, const Completion& c);
  void Advance(PathWork& work, Step step);
  bool RegisteredPersistent(const std::string& path) const;
  void OnParentMissing(PathWork& work);
  void WaitForParent(PathWork& work, const std::string& ancestor);
  // kWaitingParent with a backoff that grows with each attempt, and a kWaiting event saying why.
  void BackOffForParent(PathWork& work, std::string reason);
  void OnVerified(PathWork& work, int rc, const NodeState& node);
  void BackOff(PathWork& work, PathState state, Clock::duration delay, std::string reason);
  Clock::duration NextBackoff(PathWork& work) const;
  static Step SubmissionFailed(const std::string& path, int rc);

  // outcomes.cc
  void Resolve(PathWork& work, Outcome outcome, std::string reason);
  // Takes back the batch the recorder wrote (waiters, events, what comes next for its paths)
  // and hands it what resolved since. Never waits for the disk.
  void RecordOutcomes();
  // The same, and waits until everything resolved so far is written (or the spool refused it):
  // before a new session's scan, and at close.
  void RecordOutcomesNow();
  void StartRecording();
  void FinishRecording(OutcomeRecorder::Batch batch);
  void AfterResolution(PathWork& work);
  void RunExpire();
  void ExpireNow(const std::vector<uint64_t>& seqs);
  void DropFromPath(PathWork& work, uint64_t seq);
  void RetargetToLatest(PathWork& work);
  void CountApplyLatency(const std::vector<uint64_t>& seqs, const SpooledIntent& target);

  RegistrarOptions options_;
  std::shared_ptr<Spool> spool_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<ZkSession> session_;
  std::unique_ptr<CompletionMailbox> mailbox_;  // what calls complete into
  Ownership ownership_;
  std::thread thread_;
  OutcomeBoard board_;

  // Shared with other threads, guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::deque<Completion> completions_;
  RegistrarStats stats_;

  // Reconciler-thread state.
  PathTable paths_;
  ReadyList ready_;                                        // paths in kQueued to send
  std::multimap<Clock::time_point, std::string> delayed_;  // paths in a backoff state
  std::map<uint64_t, Call> calls_;  // token -> what it is for; the first is the oldest out
  size_t ops_in_flight_ = 0;
  Pacer pacer_;
  bool connected_before_ = false;         // a later connect is a reconnect (jitter)
  int negotiated_timeout_ms_ = 10'000;
  Clock::time_point hold_until_{};        // the jitter after a reconnect: nothing is sent before
  std::optional<Clock::time_point> throttled_since_;  // work waits for the pacer since then
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t next_token_ = 1;
  // Calls with tokens from here on went out on the current handle. A ZSESSIONEXPIRED answer to one
  // of them while the handle still says CONNECTED means the server ended the session without
  // closing our connection (seen after a session was stolen and closed by another client):
  // nothing will ever succeed on it, so it is replaced.
  uint64_t first_token_of_handle_ = 1;
  bool server_ended_session_ = false;
  bool connected_ = false;
  bool session_saved_ = true;  // false: the new session is not in the spool yet; nothing is sent
  Clock::time_point retry_save_at_{};
  Clock::time_point disconnected_since_;
  Clock::time_point next_unreachable_report_;
  bool verified_since_open_ = false;
  bool session_dead_ = false;
  Clock::time_point retry_session_at_{};
  uint64_t read_cursor_ = 0;
  std::atomic<uint64_t> notifies_{0};  // Notify() calls: every append makes one
  uint64_t read_to_end_at_ = UINT64_MAX;  // notifies_ when the spool was last read to its end
  bool read_more_ = false;  // the last IssueReady read a chunk and more may follow: no wait
  RegisteredScan scan_;
  // Created (or asked to be) on this connection. Looked up by views of a path's prefixes.
  std::unordered_set<std::string, StringHash, std::equal_to<>> known_parents_;
  std::deque<std::string> to_watch_;               // applied puts without a watch yet
  std::unordered_set<std::string> watched_;        // paths with a watch of ours (at most max_watches)
  std::unique_ptr<ChrootMaker> chroot_maker_;
  std::vector<Record> records_;            // outcomes not yet handed to the recorder
  std::vector<Record> recording_;          // the batch the recorder has, in its order
  std::unique_ptr<OutcomeRecorder> recorder_;
  size_t records_failing_ = 0;             // consecutive failed attempts to record them
  Clock::time_point retry_records_at_{};
  Clock::time_point next_expire_check_{};
  Clock::time_point next_anti_entropy_{};
  std::vector<RegistrarEvent> events_;
  std::string last_parent_error_;  // why the latest parent create failed, for waiting paths
  // A top-level parent's create found no node: the root of our namespace, the chroot, is missing.
  // Nested paths learn it only this way (a top-level path learns it from its own create).
  bool namespace_root_missing_ = false;
  size_t tracked_peak_ = 0;        // most paths tracked since memory was last handed back
  // When watches held back by a busy recorder may go anyway (WatchApplied); reset at any pass
  // that finds the recorder idle.
  std::optional<Clock::time_point> watches_held_until_;
};

}  // namespace zkspool
