// The reconciler's loop, its start and stop, and what it tells the rest of the process (Stats,
// events). See reconciler.h for how the rest is split.
#include "reconciler/reconciler.h"

#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "zk/client_log.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStopPoll{100};
constexpr milliseconds kIdleWake{1000};
constexpr size_t kMaxBlockedShown = 100;

// A handle abandoned to keep its session (Close(kKeepSession)) lives on and still calls into its
// ZkSession and mailbox, so those must never be freed (a process closes this way just before it
// exits). Holding them here rather than dropping the pointers keeps them reachable, so leak
// checkers do not report them.
void KeepUntilExit(std::unique_ptr<ZkSession> session, std::unique_ptr<CompletionMailbox> mailbox) {
  struct Kept {
    std::mutex mu;
    std::vector<std::pair<std::unique_ptr<ZkSession>, std::unique_ptr<CompletionMailbox>>> handles;
  };
  static Kept* kept = new Kept;  // never destroyed: the handles outlive static destruction
  std::lock_guard lock(kept->mu);
  kept->handles.emplace_back(std::move(session), std::move(mailbox));
}

}  // namespace

Reconciler::Reconciler(RegistrarOptions options, std::shared_ptr<Spool> spool, std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)),
      spool_(std::move(spool)),
      log_(std::move(log)),
      pacer_(options_.max_in_flight, options_.max_ops_per_second, options_.pace) {}

Reconciler::~Reconciler() { Stop(Registrar::CloseMode::kEndSession); }

Status Reconciler::Start() {
  Result<std::vector<int64_t>> owned = spool_->OwnedSessions();
  if (!owned.ok()) return owned.status();
  ownership_.previous_sessions.insert(owned->begin(), owned->end());
  Result<std::optional<SessionInfo>> saved = spool_->LoadSession();
  if (!saved.ok()) return saved.status();
  if (*saved) ownership_.current_session = (*saved)->id;  // OnConnected tells whether it was resumed

  RouteClientLogTo(log_);
  mailbox_ = std::make_unique<CompletionMailbox>(this);
  recorder_ = std::make_unique<OutcomeRecorder>(spool_, log_, [this] { Wake(); });
  session_ = std::make_unique<ZkSession>(options_.hosts, static_cast<int>(options_.session_timeout.count()),
                                         options_.digest_auth, [this] { Wake(); });
  if (Status s = session_->Start(*saved); !s.ok()) return s;
  if (*saved) log_->info("resuming ZooKeeper session {}", FormatSessionId((*saved)->id));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Reconciler::Notify() {
  ++notifies_;
  Wake();
}

void Reconciler::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  wake_cv_.notify_one();
}

void Reconciler::Deliver(Completion completion) {
  std::lock_guard lock(mu_);
  completions_.push_back(std::move(completion));
  woken_ = true;
  wake_cv_.notify_one();
}

void Reconciler::Stop(Registrar::CloseMode mode) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    woken_ = true;
    wake_cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  recorder_.reset();  // the loop's last pass waited for its writes
  scan_ = {};  // its snapshot goes before the spool
  board_.Close();
  chroot_maker_.reset();
  if (!session_) return;
  if (mode == Registrar::CloseMode::kKeepSession) {
    session_->Abandon();
    mailbox_->Detach();
    KeepUntilExit(std::move(session_), std::move(mailbox_));
  } else {
    session_->Close();  // nothing waits for what it still answers: the thread has stopped
    session_.reset();
    mailbox_.reset();  // frees the calls the closed handle never answered
  }
  SetSessionState(SessionState::kClosed);
  DeliverEvents();
  StopRoutingClientLogTo(log_.get());
}

void Reconciler::Run() {
  pthread_setname_np(pthread_self(), "zkspool-recon");
  const auto now0 = Clock::now();
  MarkDisconnected(now0);
  next_anti_entropy_ = now0 + options_.anti_entropy_interval;
  Clock::time_point stop_deadline{};
  for (;;) {
    std::deque<Completion> completions;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_until(lock, NextDeadline(Clock::now()), [this] { return woken_; });
      woken_ = false;
      completions.swap(completions_);
      stopping = stopping_;
    }
    // Once stopping, session events are ignored: no new session just before the close.
    std::vector<ZkEvent> events = session_->TakeEvents();
    if (!stopping) HandleEvents(events);
    for (const Completion& c : completions) HandleCompletion(c);
    if (server_ended_session_ && !stopping) {
      log_->warn("ZooKeeper answers 'session expired' for session {} on a live connection: starting a new one",
                 FormatSessionId(ownership_.current_session));
      ReplaceExpiredSession();
    }
    // Refill the window before the spool writes that record what completed, so that ZooKeeper
    // works on the next calls meanwhile.
    if (!stopping) IssueReady();
    RecordOutcomes();
    const auto now = Clock::now();
    if (stopping) {
      if (stop_deadline == Clock::time_point{}) stop_deadline = now + options_.session_timeout;
      if (calls_.empty() || now >= stop_deadline) break;
      continue;
    }
    if (session_dead_ && now >= retry_session_at_) {
      session_dead_ = false;
      if (Status s = session_->Start(std::nullopt); !s.ok()) {
        log_->error("{}; retrying in 5 s", s.ToString());
        session_dead_ = true;
        retry_session_at_ = now + std::chrono::seconds(5);
      }
    }
    if (connected_ && !session_saved_ && now >= retry_save_at_) SaveSession();
    if (chroot_maker_ && chroot_maker_->done()) {
      if (Status s = chroot_maker_->result(); s.ok()) {
        log_->info("created the chroot of \"{}\"", options_.hosts);
        namespace_root_missing_ = false;
      } else {
        log_->error("{}", s.ToString());
        std::lock_guard lock(mu_);
        stats_.last_error = s.message();
      }
      chroot_maker_.reset();
    }
    if (now >= next_expire_check_) RunExpire();
    if (!connected_ && !session_dead_ && now >= next_unreachable_report_) ReportUnreachable(now);
    if (now >= next_anti_entropy_) {
      // +-10%, so that a fleet's passes drift apart instead of landing together.
      next_anti_entropy_ = now + options_.anti_entropy_interval * 9 / 10 + Jitter(options_.anti_entropy_interval / 5);
      if (connected_ && !scan_.active) StartScan(/*create_first=*/false);  // a reconnect verifies anyway
    }
    IssueReady();
    RecordOutcomes();
    DeliverEvents();
    PublishStats();
    HandBackMemory();
  }
  RecordOutcomesNow();
  DeliverEvents();
  PublishStats();
}

// Only deadlines that the next pass can act on count: a past deadline that waits for the
// connection would make the wait return at once, over and over, for the whole outage.
Reconciler::Clock::time_point Reconciler::NextDeadline(Clock::time_point now) const {
  if (stopping_) return now + kStopPoll;
  auto deadline = now + kIdleWake;
  if (std::optional<int64_t> expiry = spool_->NextExpiry()) {
    const auto due = now + milliseconds(std::clamp<int64_t>(*expiry - NowMs(), 0, kIdleWake.count()));
    deadline = std::min(deadline, std::max(due, next_expire_check_));
  }
  if (read_more_) return now;  // bounded by what may be loaded (MayLoadMore), connected or not
  if (connected_) {
    deadline = std::min(deadline, std::max(next_anti_entropy_, now));
    if (!delayed_.empty()) deadline = std::min(deadline, delayed_.begin()->first);
    if (!session_saved_) deadline = std::min(deadline, retry_save_at_);
    if (hold_until_ > now) deadline = std::min(deadline, hold_until_);
    if (watches_held_until_ && *watches_held_until_ > now && !to_watch_.empty()) {
      deadline = std::min(deadline, *watches_held_until_);
    }
    // Held by the ceiling: wake when a token comes. Held by a full window: an answer wakes us.
    if (throttled_since_ && pacer_.NextToken(now) > now) deadline = std::min(deadline, pacer_.NextToken(now));
    // A call out past the pacer's cut line counts as late before its answer comes.
    if (!calls_.empty()) {
      const auto cut_at = calls_.begin()->second.sent +
                          std::chrono::milliseconds(static_cast<int64_t>(negotiated_timeout_ms_ * Pacer::kCutAbove) + 1);
      if (cut_at > now) deadline = std::min(deadline, cut_at);
    }
  }
  // A batch being written wakes us when it is (the recorder notifies).
  if (!records_.empty() && !recorder_->Busy()) deadline = std::min(deadline, std::max(retry_records_at_, now));
  if (session_dead_) deadline = std::min(deadline, retry_session_at_);
  if (chroot_maker_) deadline = std::min(deadline, now + kStopPoll);
  return deadline;
}

// A drain or a pass over the registered set allocates and frees per path; glibc keeps what was
// freed for reuse, so after a burst of 100,000 paths the heap stayed ~27 MiB larger for good.
// Once a burst is over (at least kBurst paths tracked, then none), it is handed back: once per
// burst, a few milliseconds.
void Reconciler::HandBackMemory() {
  constexpr size_t kBurst = 1000;
  tracked_peak_ = std::max(tracked_peak_, paths_.size());
  if (tracked_peak_ < kBurst || paths_.size() > 0 || !records_.empty()) return;
  ::malloc_trim(0);
  tracked_peak_ = 0;
}

Reconciler::Clock::duration Reconciler::Jitter(Clock::duration up_to) {
  if (up_to <= Clock::duration::zero()) return Clock::duration::zero();
  return Clock::duration(std::uniform_int_distribution<int64_t>(0, up_to.count())(rng_));
}

void Reconciler::Emit(RegistrarEvent event) {
  if (options_.on_event) events_.push_back(std::move(event));
}

void Reconciler::DeliverEvents() {
  if (options_.on_event) {
    for (const RegistrarEvent& event : events_) options_.on_event(event);
  }
  events_.clear();
}

void Reconciler::PublishStats() {
  std::lock_guard lock(mu_);
  stats_.paths_tracked = paths_.size();
  stats_.paths_in_flight = paths_.count(PathState::kCallOut);
  stats_.paths_conflicting = paths_.count(PathState::kBackoffConflict);
  stats_.paths_uncertain = paths_.count(PathState::kBackoffUncertain);
  stats_.paths_waiting_parent = paths_.count(PathState::kWaitingParent);
  stats_.operations_in_flight = ops_in_flight_;
  stats_.session_saved = session_saved_;
  stats_.pacer_window = pacer_.window();
  stats_.pacer_latency_ms = pacer_.latency_ms();
  stats_.pacer_cuts = pacer_.cuts();
  stats_.blocked_paths.clear();
  stats_.conflicting_paths.clear();
  for (const std::string& path : paths_.blocked()) {
    if (stats_.blocked_paths.size() >= kMaxBlockedShown) break;
    const PathWork* work = paths_.Find(path);
    if (work == nullptr) continue;
    stats_.blocked_paths.push_back({path, PathStateName(work->state()), work->reason});
    if (work->state() == PathState::kBackoffConflict) stats_.conflicting_paths.push_back(path);
  }
}

void Reconciler::SetSessionState(SessionState state) {
  {
    std::lock_guard lock(mu_);
    stats_.session_state = state;
    stats_.session_id = ownership_.current_session;
    if (state == SessionState::kConnected) {
      stats_.connected_since = std::chrono::system_clock::now();
    } else {
      stats_.connected_since.reset();
    }
  }
  RegistrarEvent event;
  event.kind = RegistrarEvent::Kind::kSession;
  event.session_state = state;
  event.session_id = ownership_.current_session;
  Emit(std::move(event));
}

Result<Outcome> Reconciler::WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout) {
  // Not Spool::Stats: its read of the oldest pending intent, once per waited ticket, cost the
  // waiting thread more than the wait itself when that intent sat in an uncached table file.
  return board_.Wait(ticket, timeout, spool_->NextSequence(), [this](uint64_t seq) {
    return spool_->GetPending(seq).status().code() != StatusCode::kNotFound;
  });
}

RegistrarStats Reconciler::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace zkspool
