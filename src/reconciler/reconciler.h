// The reconciler thread: applies pending intents to ZooKeeper and keeps registered nodes there.
//
// One thread owns all apply state; ZooKeeper completions and watcher events only enqueue and wake
// it. Per path, intents are applied in sequence order; successive intents for a path that wait
// together are coalesced (only the last is sent; all are marked applied). Calls are pipelined up
// to max_in_flight, fresh creates batched into multis (with their missing parents sent just
// ahead). Retries live here and nowhere else: uncertain outcomes restart a path's task once
// connected, conflicts back off exponentially.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "reconciler/apply_task.h"
#include "zk/zk_calls.h"
#include "zk/zk_session.h"
#include "zkspool/registrar.h"

namespace spdlog {
class logger;
}

namespace zkspool {

class Reconciler : public CompletionSink {
 public:
  Reconciler(RegistrarOptions options, std::shared_ptr<Spool> spool, std::shared_ptr<spdlog::logger> log);
  ~Reconciler() override;

  // Starts the session (resuming the spool's saved one) and the thread.
  Status Start();
  // Something was appended: look at the spool again.
  void Notify();
  Result<Outcome> WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout);
  RegistrarStats Stats() const;
  // Stops issuing, waits for in-flight calls (at most the session timeout), stops the thread,
  // then ends or abandons the session.
  void Stop(Registrar::CloseMode mode);

  void Deliver(Completion completion) override;

 private:
  using Clock = std::chrono::steady_clock;

  struct PathWork {
    std::vector<SpooledIntent> batch;   // being applied; the last one is the target
    std::deque<SpooledIntent> queued;   // arrived while the batch was being applied
    std::unique_ptr<ApplyTask> task;    // null: the batch waits to be started
    Step step;                          // the task's current step
    bool reassert = false;              // re-creating a registered node; nothing to mark applied
    bool waiting = false;               // a call is outstanding
    bool wrote = false;                 // the task sent a write (counts re-assertions that fixed something)
    bool alone = false;                 // its create failed inside a multi: send it on its own
    bool in_batch = false;              // placed in the multi being built
    Clock::time_point not_before{};     // backoff after a conflict or an uncertain outcome
    int conflicts = 0;
  };

  void Run();
  void HandleEvents(const std::vector<ZkEvent>& events);
  void OnConnected();
  void ReplaceExpiredSession();
  // Closes the handle and settles every call still out on it.
  void CloseHandle();
  void MarkDisconnected(Clock::time_point now);
  void ReportUnreachable(Clock::time_point now);
  void HandleCompletion(const Completion& c);
  void Advance(const std::string& path, PathWork& work, Step step);
  void FinishBatch(const std::string& path, PathWork& work, Outcome outcome, const std::string& reason);
  void LoadPending();
  void AddIntent(SpooledIntent intent);
  void ScheduleReassertAll();
  void Reassert(const SpooledIntent& node);
  void IssueReady();
  // Starts the path's task if needed and returns it, or null if nothing is left to send.
  PathWork* Prepare(const std::string& path);
  void IssueOne(const std::string& path, PathWork& work);
  static Step SubmissionFailed(const std::string& path, int rc);
  void IssueBatch(std::vector<std::string>& paths);
  void CreateMissingParents(const Intent& desired);
  // True if the last intent waiting for `path` (or the node being re-asserted there) is a put.
  bool PutPending(const std::string& path) const;
  void RunExpire();
  void FlushResolved();
  void Emit(RegistrarEvent event);
  void SetSessionState(SessionState state);
  Clock::time_point NextDeadline() const;

  RegistrarOptions options_;
  std::shared_ptr<Spool> spool_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<ZkSession> session_;
  std::unique_ptr<CompletionMailbox> mailbox_;  // what calls complete into
  Ownership ownership_;
  std::thread thread_;

  // Shared with other threads, guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::deque<Completion> completions_;
  RegistrarStats stats_;

  // Outcomes for WaitApplied, guarded by outcome_mu_ (held across MarkApplied so a waiter never
  // sees an intent gone from the spool without its outcome).
  std::mutex outcome_mu_;
  std::condition_variable outcome_cv_;
  std::map<uint64_t, Outcome> resolved_;
  uint64_t first_own_ticket_ = 0;  // tickets below were issued before this Open
  bool closed_ = false;            // Stop ran: waiters give up

  // Reconciler-thread state.
  bool connected_ = false;
  Clock::time_point disconnected_since_;  // when connected_ last became false (or Start)
  Clock::time_point next_unreachable_report_;
  bool verified_since_open_ = false;
  std::map<std::string, PathWork> work_;
  std::map<uint64_t, std::vector<std::string>> outstanding_;  // token -> the paths of its call
  size_t outstanding_ops_ = 0;
  std::deque<std::string> ready_;                 // paths whose next call can be sent
  std::multimap<Clock::time_point, std::string> delayed_;  // paths in backoff
  std::deque<std::string> to_watch_;                        // applied puts still without a watch
  std::unordered_set<std::string> known_parents_;  // created (or asked to be) on this connection
  std::map<uint64_t, std::string> parent_calls_;   // token -> the parent it creates (in outstanding_ops_)
  uint64_t next_token_ = 1;
  // Calls with tokens from here on went out on the current handle. A ZSESSIONEXPIRED answer to one
  // of them while the handle still says CONNECTED means the server ended the session without
  // closing our connection (seen after a session was stolen and closed by another client):
  // nothing will ever succeed on it, so it is replaced.
  uint64_t first_token_of_handle_ = 1;
  bool server_ended_session_ = false;
  uint64_t read_cursor_ = 0;
  size_t loaded_ = 0;  // intents in work_
  std::vector<std::pair<uint64_t, Outcome>> to_resolve_;
  std::vector<uint64_t> to_mark_applied_;
  std::vector<std::pair<std::vector<uint64_t>, std::string>> to_mark_failed_;
  std::vector<RegistrarEvent> events_;
  Clock::time_point next_expire_{};
  Clock::time_point next_anti_entropy_{};
  Clock::time_point retry_session_at_{};
  bool session_dead_ = false;
};

}  // namespace zkspool
