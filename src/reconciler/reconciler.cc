#include "reconciler/reconciler.h"

#include "zk/client_log.h"

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>

namespace zkspool {
namespace {

using std::chrono::milliseconds;

int64_t WallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string Hex(int64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

constexpr milliseconds kRetryDelay{100};
constexpr milliseconds kExpireEvery{500};
constexpr milliseconds kAuthFailedRetry{5000};
constexpr milliseconds kUnreachableReportEvery{60'000};
constexpr size_t kLoadChunk = 1000;
constexpr size_t kMaxRemembered = 1'000'000;  // outcomes kept for WaitApplied
// Creates per multi, and their bytes: well under jute.maxbuffer, whose excess makes the server
// drop the connection and fail every outstanding request. kOpOverhead covers what a create op
// adds to its path and data in the request (header, ACL, flags).
constexpr size_t kMaxBatch = 1000;
constexpr size_t kMaxBatchBytes = 256 * 1024;
constexpr size_t kOpOverhead = 64;
constexpr size_t kWatchesPerPass = 200;
constexpr size_t kMaxKnownParents = 65'536;  // past this it starts over: a few parents made again

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
    : options_(std::move(options)), spool_(std::move(spool)), log_(std::move(log)) {}

Reconciler::~Reconciler() { Stop(Registrar::CloseMode::kEndSession); }

Status Reconciler::Start() {
  Result<SpoolStats> stats = spool_->Stats();
  if (!stats.ok()) return stats.status();
  first_own_ticket_ = stats->next_sequence;
  Result<std::vector<int64_t>> owned = spool_->OwnedSessions();
  if (!owned.ok()) return owned.status();
  ownership_.previous_sessions.insert(owned->begin(), owned->end());
  Result<std::optional<SessionInfo>> saved = spool_->LoadSession();
  if (!saved.ok()) return saved.status();
  if (*saved) ownership_.current_session = (*saved)->id;  // OnConnected tells whether it was resumed

  RouteClientLogTo(log_);
  mailbox_ = std::make_unique<CompletionMailbox>(this);
  session_ = std::make_unique<ZkSession>(options_.hosts, static_cast<int>(options_.session_timeout.count()),
                                         options_.digest_auth, [this] { Notify(); });
  if (Status s = session_->Start(*saved); !s.ok()) return s;
  if (*saved) log_->info("resuming ZooKeeper session {}", Hex((*saved)->id));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Reconciler::Notify() {
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
  {
    std::lock_guard lock(outcome_mu_);
    closed_ = true;
  }
  outcome_cv_.notify_all();
  if (!session_) return;
  if (mode == Registrar::CloseMode::kKeepSession) {
    session_->Abandon();
    mailbox_->Detach();
    KeepUntilExit(std::move(session_), std::move(mailbox_));
  } else {
    session_->Close();  // nothing waits for what it still answers: the thread has stopped
    session_.reset();
    mailbox_.reset();
  }
  SetSessionState(SessionState::kClosed);
  StopRoutingClientLogTo(log_.get());
}

void Reconciler::Run() {
  const auto now0 = Clock::now();
  MarkDisconnected(now0);
  next_expire_ = now0;
  next_anti_entropy_ = now0 + options_.anti_entropy_interval;
  Clock::time_point stop_deadline{};
  for (;;) {
    std::deque<Completion> completions;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_until(lock, NextDeadline(), [this] { return woken_; });
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
                 Hex(ownership_.current_session));
      ReplaceExpiredSession();
    }
    // Refill the window before the spool writes that record what completed, so that ZooKeeper
    // works on the next calls meanwhile.
    if (connected_ && !stopping) IssueReady();
    FlushResolved();
    const auto now = Clock::now();
    if (stopping) {
      if (stop_deadline == Clock::time_point{}) stop_deadline = now + options_.session_timeout;
      if ((outstanding_.empty() && parent_calls_.empty()) || now >= stop_deadline) break;
      continue;
    }
    if (session_dead_ && now >= retry_session_at_) {
      session_dead_ = false;
      if (Status s = session_->Start(std::nullopt); !s.ok()) {
        log_->error("{}; retrying in 5 s", s.ToString());
        session_dead_ = true;
        retry_session_at_ = now + kAuthFailedRetry;
      }
    }
    if (now >= next_expire_) RunExpire();
    if (!connected_ && !session_dead_ && now >= next_unreachable_report_) ReportUnreachable(now);
    if (connected_) {
      LoadPending();
      if (now >= next_anti_entropy_) {
        next_anti_entropy_ = now + options_.anti_entropy_interval;
        ScheduleReassertAll();
      }
      IssueReady();
    } else if (now >= next_anti_entropy_) {
      next_anti_entropy_ = now + options_.anti_entropy_interval;  // the reconnect verifies anyway
    }
    FlushResolved();
  }
}

// Only deadlines that the next pass can act on count: a past deadline that waits for the
// connection would make the wait return at once, over and over, for the whole outage.
Reconciler::Clock::time_point Reconciler::NextDeadline() const {
  const auto now = Clock::now();
  if (stopping_) return now + kRetryDelay;
  auto deadline = std::min(std::max(next_expire_, now), now + std::chrono::seconds(1));
  if (connected_) {
    deadline = std::min(deadline, std::max(next_anti_entropy_, now));
    if (!delayed_.empty()) deadline = std::min(deadline, delayed_.begin()->first);
  }
  if (session_dead_) deadline = std::min(deadline, retry_session_at_);
  return deadline;
}

void Reconciler::HandleEvents(const std::vector<ZkEvent>& events) {
  for (const ZkEvent& e : events) {
    if (e.type != ZOO_SESSION_EVENT) {
      // A node of ours deleted or changed from outside: check it again.
      if (!connected_ || (e.type != ZOO_DELETED_EVENT && e.type != ZOO_CHANGED_EVENT)) continue;
      Result<SpooledIntent> registered = spool_->GetRegistered(e.path);
      if (registered.ok()) Reassert(*registered);
      continue;
    }
    if (e.state == ZOO_CONNECTED_STATE) {
      OnConnected();
    } else if (e.state == ZOO_EXPIRED_SESSION_STATE) {
      ReplaceExpiredSession();
    } else if (e.state == ZOO_AUTH_FAILED_STATE) {
      connected_ = false;
      std::string message = "ZooKeeper rejected the digest credentials (AUTH_FAILED); retrying in 5 s";
      log_->error("{}", message);
      {
        std::lock_guard lock(mu_);
        stats_.last_error = message;
      }
      SetSessionState(SessionState::kAuthFailed);
      CloseHandle();
      session_dead_ = true;
      retry_session_at_ = Clock::now() + kAuthFailedRetry;
    } else if (connected_) {  // CONNECTING / ASSOCIATING: the connection is gone, maybe not the session
      MarkDisconnected(Clock::now());
      log_->warn("lost the connection to ZooKeeper; session {} may still be alive", Hex(ownership_.current_session));
      SetSessionState(SessionState::kConnecting);
    }
  }
}

void Reconciler::OnConnected() {
  SessionInfo id = session_->client_id();
  connected_ = true;
  if (id.id != ownership_.current_session) {
    // A new session: a resume that the server answered with another id counts as one too.
    if (ownership_.current_session != 0) ownership_.previous_sessions.insert(ownership_.current_session);
    ownership_.current_session = id.id;
    if (Status s = spool_->SaveSession(id); !s.ok()) log_->error("cannot save the session: {}", s.ToString());
    log_->info("new ZooKeeper session {} (timeout {} ms): re-asserting registered nodes", Hex(id.id),
               session_->negotiated_timeout_ms());
    {
      std::lock_guard lock(mu_);
      ++stats_.sessions_started;
    }
    ScheduleReassertAll();
  } else if (!verified_since_open_) {
    log_->info("resumed ZooKeeper session {}: verifying registered nodes", Hex(id.id));
    ScheduleReassertAll();
  } else {
    log_->info("reconnected to ZooKeeper session {}", Hex(id.id));
  }
  verified_since_open_ = true;
  known_parents_.clear();  // parent creates sent on the last connection may never have arrived
  SetSessionState(SessionState::kConnected);
  RunExpire();  // drop what ran out while we were away before anything is sent
  // Work that was waiting for the connection may go now.
  for (auto& [path, work] : work_) {
    if (!work.waiting && work.not_before > Clock::now() && work.step.kind == StepKind::kRetryLater) {
      work.not_before = Clock::now();
      ready_.push_back(path);
    }
  }
}

void Reconciler::MarkDisconnected(Clock::time_point now) {
  connected_ = false;
  disconnected_since_ = now;
  // By then the session may be gone too: worth a line in the log.
  next_unreachable_report_ = now + options_.session_timeout;
}

// The C client's own complaints go to debug level (see client_log.h); this says it once a while.
void Reconciler::ReportUnreachable(Clock::time_point now) {
  next_unreachable_report_ = now + kUnreachableReportEvery;
  Result<SpoolStats> spool = spool_->Stats();
  std::string message = fmt::format(
      "cannot connect to ZooKeeper at \"{}\" for {} s; {} intents wait in the spool", options_.hosts,
      std::chrono::duration_cast<std::chrono::seconds>(now - disconnected_since_).count(),
      spool.ok() ? spool->pending_count : 0);
  log_->warn("{}", message);
  std::lock_guard lock(mu_);
  stats_.last_error = std::move(message);
}

void Reconciler::ReplaceExpiredSession() {
  server_ended_session_ = false;
  MarkDisconnected(Clock::now());
  log_->warn("ZooKeeper session {} expired: starting a new one", Hex(ownership_.current_session));
  SetSessionState(SessionState::kExpired);
  // The dead handle fails every call; close it here, on our thread. Settle what it answered
  // before the new session exists: a create it confirmed is recorded now, so the new session's
  // re-assertion includes it rather than racing it.
  CloseHandle();
  FlushResolved();
  if (Status s = session_->Start(std::nullopt); !s.ok()) {
    log_->error("{}", s.ToString());
    session_dead_ = true;
    retry_session_at_ = Clock::now() + kAuthFailedRetry;
  }
}

// Closing a handle should deliver every outstanding completion (ZCLOSING), but 3.8.0 can drop
// some: its completion thread stops as soon as the close is requested, also with completions
// still queued (a chaos run under ASan saw 261 intents of a few paths wait forever behind them).
// What the closed handle did not answer is settled as uncertain, like a connection loss, so
// those paths are retried on the next session.
void Reconciler::CloseHandle() {
  first_token_of_handle_ = next_token_;
  session_->Close();
  std::deque<Completion> answered;
  {
    std::lock_guard lock(mu_);
    answered.swap(completions_);
  }
  for (const Completion& c : answered) HandleCompletion(c);
  std::vector<uint64_t> unanswered;
  for (const auto& [token, paths] : outstanding_) unanswered.push_back(token);
  for (const auto& [token, parent] : parent_calls_) unanswered.push_back(token);
  if (unanswered.empty()) return;
  log_->warn("{} calls of the closed ZooKeeper handle were never answered; they are retried", unanswered.size());
  for (uint64_t token : unanswered) {
    Completion c;
    c.token = token;
    c.rc = ZCLOSING;
    HandleCompletion(c);
  }
}

void Reconciler::HandleCompletion(const Completion& c) {
  if (auto parent = parent_calls_.find(c.token); parent != parent_calls_.end()) {
    if (c.rc != ZOK && c.rc != ZNODEEXISTS) known_parents_.erase(parent->second);
    parent_calls_.erase(parent);
    --outstanding_ops_;
    return;
  }
  auto token = outstanding_.find(c.token);
  if (token == outstanding_.end()) return;
  if (c.rc == ZSESSIONEXPIRED && c.token >= first_token_of_handle_ && connected_) server_ended_session_ = true;
  std::vector<std::string> paths = std::move(token->second);
  outstanding_.erase(token);
  outstanding_ops_ -= paths.size();
  const bool batch = paths.size() > 1;
  for (const std::string& path : paths) {
    auto it = work_.find(path);
    if (it == work_.end() || !it->second.task || !it->second.waiting) continue;
    PathWork& work = it->second;
    work.waiting = false;
    if (batch && c.rc != ZOK && !IsUncertain(c.rc)) {
      // Which create failed is not worth decoding: nothing was applied, so each goes alone
      // and one conflict never holds back the rest. A parent may have gone since we made it.
      if (c.rc == ZNONODE) known_parents_.clear();
      work.alone = true;
      ready_.push_back(path);
      continue;
    }
    Step next = work.step.kind == StepKind::kRead ? work.task->OnRead(c.rc, c.node) : work.task->OnResult(c.rc);
    Advance(path, work, std::move(next));
  }
}

void Reconciler::Advance(const std::string& path, PathWork& work, Step step) {
  work.step = std::move(step);
  const auto now = Clock::now();
  switch (work.step.kind) {
    case StepKind::kDone:
      FinishBatch(path, work, Outcome::kApplied, "");
      return;
    case StepKind::kFailed:
      FinishBatch(path, work, Outcome::kFailed, work.step.reason);
      return;
    case StepKind::kConflict: {
      ++work.conflicts;
      auto backoff = std::min(options_.conflict_backoff_max,
                              options_.conflict_backoff_min * (int64_t{1} << std::min(work.conflicts - 1, 16)));
      work.not_before = now + backoff;
      delayed_.emplace(work.not_before, path);
      if (work.conflicts == 1) log_->warn("conflict: {}; retrying with backoff, never taking it over", work.step.reason);
      {
        std::lock_guard lock(mu_);
        ++stats_.conflicts;
        if (std::find(stats_.conflicting_paths.begin(), stats_.conflicting_paths.end(), path) ==
            stats_.conflicting_paths.end()) {
          stats_.conflicting_paths.push_back(path);
        }
        stats_.last_error = work.step.reason;
      }
      RegistrarEvent event;
    event.kind = RegistrarEvent::Kind::kConflict;
      event.path = path;
      event.seq = work.batch.empty() ? 0 : work.batch.back().seq;
      event.message = work.step.reason;
      Emit(std::move(event));
      return;
    }
    case StepKind::kRetryLater:
      work.not_before = now + kRetryDelay;
      delayed_.emplace(work.not_before, path);
      {
        std::lock_guard lock(mu_);
        ++stats_.retried;
      }
      return;
    default:
      if (work.step.kind != StepKind::kRead) work.wrote = true;
      ready_.push_back(path);
      return;
  }
}

void Reconciler::FinishBatch(const std::string& path, PathWork& work, Outcome outcome, const std::string& reason) {
  const int64_t now_ms = WallMs();
  if (outcome == Outcome::kApplied && work.task->desired().op == Op::kPut) to_watch_.push_back(path);
  if (!work.reassert) {
    std::vector<uint64_t> seqs;
    for (const SpooledIntent& r : work.batch) {
      seqs.push_back(r.seq);
      to_resolve_.emplace_back(r.seq, outcome);
    }
    loaded_ -= work.batch.size();
    std::lock_guard lock(mu_);
    if (outcome == Outcome::kApplied) {
      to_mark_applied_.insert(to_mark_applied_.end(), seqs.begin(), seqs.end());
      stats_.applied += seqs.size();
      for (const SpooledIntent& r : work.batch) {
        uint64_t latency = static_cast<uint64_t>(std::max<int64_t>(now_ms - r.intent.enqueued_at_ms, 0));
        int bucket = latency == 0 ? 0 : std::min<int>(std::bit_width(latency - 1), LatencyHistogram::kBuckets - 1);
        ++stats_.apply_latency.counts[bucket];
        stats_.apply_latency.sum_ms += latency;
      }
    } else {
      to_mark_failed_.emplace_back(seqs, reason);
      stats_.failed += seqs.size();
      stats_.last_error = reason;
    }
  } else if (outcome == Outcome::kFailed) {
    log_->error("re-creating registered node {} failed: {}", path, reason);
    std::lock_guard lock(mu_);
    stats_.last_error = reason;
  } else if (work.wrote) {
    std::lock_guard lock(mu_);
    ++stats_.reasserted;
  }
  if (!work.reassert) {
    RegistrarEvent event;
    event.kind = outcome == Outcome::kApplied ? RegistrarEvent::Kind::kApplied : RegistrarEvent::Kind::kFailed;
    event.seq = work.batch.back().seq;
    event.path = path;
    event.message = reason;
    Emit(std::move(event));
  }
  if (work.conflicts > 0) {
    std::lock_guard lock(mu_);
    std::erase(stats_.conflicting_paths, path);
  }
  work.batch.clear();
  work.task.reset();
  work.reassert = false;
  work.wrote = false;
  work.alone = false;
  work.conflicts = 0;
  if (work.queued.empty()) {
    work_.erase(path);
    return;
  }
  work.batch.assign(work.queued.begin(), work.queued.end());
  work.queued.clear();
  ready_.push_back(path);
}

void Reconciler::LoadPending() {
  const size_t limit = std::max<size_t>(4 * options_.max_in_flight, kLoadChunk);
  while (loaded_ < limit) {
    const size_t want = std::min(kLoadChunk, limit - loaded_);
    Result<std::vector<SpooledIntent>> chunk = spool_->ReadPending(read_cursor_, want);
    if (!chunk.ok()) {
      log_->error("cannot read pending intents: {}", chunk.status().ToString());
      return;
    }
    for (SpooledIntent& r : *chunk) {
      read_cursor_ = r.seq + 1;
      AddIntent(std::move(r));
    }
    if (chunk->size() < want) return;
  }
}

void Reconciler::AddIntent(SpooledIntent intent) {
  const std::string path = intent.intent.path;
  PathWork& work = work_[path];
  ++loaded_;
  const bool stuck = work.task && !work.waiting &&
                     (work.step.kind == StepKind::kConflict || work.step.kind == StepKind::kRetryLater);
  if (stuck) {  // nothing is out for it: the later intent takes over, keeping order
    work.task.reset();
    if (work.reassert) {
      work.reassert = false;
      work.batch.clear();
    }
    for (SpooledIntent& q : work.queued) work.batch.push_back(std::move(q));
    work.queued.clear();
    work.not_before = Clock::now();
    work.conflicts = 0;
  } else if (work.task) {  // being applied: this one goes next, in order
    work.queued.push_back(std::move(intent));
    return;
  }
  if (work.reassert) {  // a pending intent decides the node's state; no need to verify the old one
    work.reassert = false;
    work.batch.clear();
  }
  const bool start = work.batch.empty() || stuck;
  work.batch.push_back(std::move(intent));  // waiting together: coalesced, the last one wins
  if (start) ready_.push_back(path);
}

void Reconciler::ScheduleReassertAll() {
  std::string after;
  for (;;) {
    Result<std::vector<SpooledIntent>> chunk = spool_->ReadRegistered(after, kLoadChunk);
    if (!chunk.ok()) {
      log_->error("cannot read the registered set: {}", chunk.status().ToString());
      return;
    }
    for (const SpooledIntent& node : *chunk) Reassert(node);
    if (chunk->size() < kLoadChunk) return;
    after = chunk->back().intent.path;
  }
}

void Reconciler::Reassert(const SpooledIntent& node) {
  auto [it, inserted] = work_.try_emplace(node.intent.path);
  if (!inserted) return;  // work for the path is under way and will settle its state
  it->second.reassert = true;
  it->second.batch.push_back(node);
  ready_.push_back(node.intent.path);
}

void Reconciler::IssueReady() {
  const auto now = Clock::now();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    ready_.push_back(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
  }
  // Half the window per multi, so that one multi is on the wire while the answer to the other
  // is handled here.
  const size_t batch_target = std::clamp<size_t>(options_.max_in_flight / 2, 1, kMaxBatch);
  std::vector<std::string> batch;
  size_t batch_bytes = 0;
  while (!ready_.empty() && connected_) {
    const size_t in_flight = outstanding_ops_ + batch.size();
    if (in_flight >= options_.max_in_flight) break;
    // Wait for room for a whole multi: refilling the window as each op completes would break
    // a backlog into ever smaller multis.
    if (batch.empty() && outstanding_ops_ > 0 && options_.max_in_flight - outstanding_ops_ < batch_target) break;
    std::string path = std::move(ready_.front());
    ready_.pop_front();
    PathWork* work = Prepare(path);
    if (work == nullptr || work->in_batch) continue;  // queued twice: one call per path at a time
    const Intent& desired = work->task->desired();
    if (work->step.kind == StepKind::kCreateParent && PutPending(work->step.path)) {
      work->not_before = now + kRetryDelay;  // that node's own intent creates it, as it says
      delayed_.emplace(work->not_before, path);
      continue;
    }
    const bool batchable = work->step.kind == StepKind::kCreate && !work->alone &&
                           desired.mode != NodeMode::kPersistentWithTtl;
    if (!batchable) {
      IssueOne(path, *work);
      continue;
    }
    const size_t bytes = desired.path.size() + desired.data.size() + kOpOverhead;
    if (bytes >= kMaxBatchBytes) {  // a large node goes alone, so no multi nears jute.maxbuffer
      IssueOne(path, *work);
      continue;
    }
    if (batch_bytes + bytes > kMaxBatchBytes) {
      IssueBatch(batch);
      batch_bytes = 0;
    }
    CreateMissingParents(desired);
    batch_bytes += bytes;
    work->in_batch = true;
    batch.push_back(std::move(path));
    if (batch.size() >= batch_target) {
      IssueBatch(batch);
      batch_bytes = 0;
    }
  }
  IssueBatch(batch);
  // Watches on the nodes we put, once nothing else waits: an extra request per node would halve
  // the drain rate of a backlog.
  if (connected_ && ready_.empty() && outstanding_ops_ == 0) {
    for (size_t i = 0; i < kWatchesPerPass && !to_watch_.empty(); ++i) {
      WatchNode(session_->handle(), to_watch_.front());
      to_watch_.pop_front();
    }
    if (!to_watch_.empty()) Notify();  // more next round
  }
}

// A multi of creates fails whole when one parent is missing, and its paths then find their
// parents one by one. So the ancestors not known to exist are created first, shallowest first,
// on the same connection: ZooKeeper runs one session's requests in order, so the multi sent
// after them finds them. Their answers hardly matter: if one fails, so does the multi, and the
// paths in it take the slow way, which reports the error. An ancestor with a put of its own is
// left to it (an empty persistent parent would take the place of, say, its container or
// ephemeral node): it is in this multi or an earlier one, or else the multi fails and its paths
// wait for it one by one.
void Reconciler::CreateMissingParents(const Intent& desired) {
  if (known_parents_.size() >= kMaxKnownParents) known_parents_.clear();
  std::vector<std::string> missing;  // deepest first
  for (size_t slash = desired.path.rfind('/'); slash != 0 && slash != std::string::npos;
       slash = desired.path.rfind('/', slash - 1)) {
    std::string parent = desired.path.substr(0, slash);
    if (known_parents_.count(parent)) break;
    if (PutPending(parent)) return;
    missing.push_back(std::move(parent));
  }
  for (auto parent = missing.rbegin(); parent != missing.rend(); ++parent) {
    const uint64_t token = next_token_++;
    if (IssueStep(session_->handle(), Step(StepKind::kCreateParent, *parent), desired, token, mailbox_.get()) != ZOK) {
      return;
    }
    parent_calls_.emplace(token, *parent);
    ++outstanding_ops_;
    known_parents_.insert(std::move(*parent));
  }
}

bool Reconciler::PutPending(const std::string& path) const {
  auto it = work_.find(path);
  if (it == work_.end()) return false;
  const PathWork& work = it->second;
  if (!work.queued.empty()) return work.queued.back().intent.op == Op::kPut;
  return !work.batch.empty() && work.batch.back().intent.op == Op::kPut;
}

Reconciler::PathWork* Reconciler::Prepare(const std::string& path) {
  auto it = work_.find(path);
  if (it == work_.end() || it->second.waiting || it->second.not_before > Clock::now()) return nullptr;
  PathWork* work = &it->second;
  const bool starting = !work->task || work->step.kind == StepKind::kConflict ||
                        work->step.kind == StepKind::kRetryLater;
  if (starting && !work->reassert) {
    const int64_t now_ms = WallMs();
    auto any_expired = [now_ms](const PathWork& w) {
      return std::any_of(w.batch.begin(), w.batch.end(),
                         [now_ms](const SpooledIntent& r) { return IsExpired(r.intent, now_ms); });
    };
    if (any_expired(*work)) {  // never sent late: drop them first (this may erase the work)
      RunExpire();
      it = work_.find(path);
      if (it == work_.end()) return nullptr;
      work = &it->second;
      if (any_expired(*work)) {  // the spool could not drop them (disk trouble): try again later
        work->not_before = Clock::now() + kExpireEvery;
        delayed_.emplace(work->not_before, path);
        return nullptr;
      }
    }
  }
  if (work->batch.empty()) return nullptr;
  if (!work->task) {
    work->task = std::make_unique<ApplyTask>(work->batch.back().intent, &ownership_, work->reassert);
    work->step = work->task->Restart();
  } else if (starting) {
    work->step = work->task->Restart();
  }
  return work;
}

Step Reconciler::SubmissionFailed(const std::string& path, int rc) {
  if (IsUncertain(rc)) return Step(StepKind::kRetryLater, path, -1, zerror(rc));
  return Step(StepKind::kFailed, path, -1, "submitting a call for " + path + " failed: " + zerror(rc));
}

void Reconciler::IssueOne(const std::string& path, PathWork& work) {
  const uint64_t token = next_token_++;
  int rc = IssueStep(session_->handle(), work.step, work.task->desired(), token, mailbox_.get());
  if (rc == ZOK) {
    outstanding_[token] = {path};
    ++outstanding_ops_;
    work.waiting = true;
    return;
  }
  Advance(path, work, SubmissionFailed(path, rc));
}

void Reconciler::IssueBatch(std::vector<std::string>& paths) {
  if (paths.size() == 1) {
    work_.at(paths[0]).in_batch = false;
    IssueOne(paths[0], work_.at(paths[0]));
  }
  if (paths.size() <= 1) {
    paths.clear();
    return;
  }
  std::vector<const Intent*> creates;
  for (const std::string& path : paths) {
    work_.at(path).in_batch = false;
    creates.push_back(&work_.at(path).task->desired());
  }
  const uint64_t token = next_token_++;
  int rc = IssueCreateBatch(session_->handle(), creates, token, mailbox_.get());
  for (const std::string& path : paths) {
    PathWork& work = work_.at(path);
    if (rc == ZOK) {
      work.waiting = true;
    } else {
      Advance(path, work, SubmissionFailed(path, rc));
    }
  }
  if (rc == ZOK) {
    outstanding_ops_ += paths.size();
    outstanding_[token] = std::move(paths);
  }
  paths.clear();
}

void Reconciler::RunExpire() {
  next_expire_ = Clock::now() + kExpireEvery;
  // A call is out for these (its outcome decides) or they are in the multi being built (this
  // may run from Prepare meanwhile), or they are applied or parked and only wait for
  // FlushResolved to record it.
  std::set<uint64_t> keep(to_mark_applied_.begin(), to_mark_applied_.end());
  for (const auto& [seqs, reason] : to_mark_failed_) keep.insert(seqs.begin(), seqs.end());
  for (const auto& [path, work] : work_) {
    if ((!work.waiting && !work.in_batch) || work.reassert) continue;
    for (const SpooledIntent& r : work.batch) keep.insert(r.seq);
  }
  Result<std::vector<SpooledIntent>> expired = spool_->Expire(WallMs(), keep);
  if (!expired.ok()) {
    log_->error("cannot expire intents: {}", expired.status().ToString());
    return;
  }
  for (const SpooledIntent& r : *expired) {
    to_resolve_.emplace_back(r.seq, Outcome::kExpired);
    log_->warn("dropped intent {} ({} {}): its TTL ran out before it could be applied", r.seq, OpName(r.intent.op),
               r.intent.path);
    RegistrarEvent event;
    event.kind = RegistrarEvent::Kind::kExpired;
    event.seq = r.seq;
    event.path = r.intent.path;
    Emit(std::move(event));
    auto it = work_.find(r.intent.path);
    if (it == work_.end()) continue;
    PathWork& work = it->second;
    auto drop = [&](auto& list) {
      auto pos = std::find_if(list.begin(), list.end(), [&](const SpooledIntent& x) { return x.seq == r.seq; });
      if (pos == list.end()) return;
      list.erase(pos);
      --loaded_;
    };
    if (!work.waiting) {
      size_t before = work.batch.size();
      drop(work.batch);
      if (work.batch.size() != before) work.task.reset();  // its target may be gone: start over
    }
    drop(work.queued);
    if (!work.task && work.batch.empty()) {
      if (work.queued.empty()) {
        work_.erase(it);
      } else {
        work.batch.assign(work.queued.begin(), work.queued.end());
        work.queued.clear();
      }
    }
  }
  if (!expired->empty()) {
    std::lock_guard lock(mu_);
    stats_.expired += expired->size();
  }
}

void Reconciler::FlushResolved() {
  if (!to_mark_applied_.empty() || !to_mark_failed_.empty() || !to_resolve_.empty()) {
    bool recorded = true;
    {
      std::lock_guard lock(outcome_mu_);
      if (!to_mark_applied_.empty()) {
        if (Status s = spool_->MarkApplied(to_mark_applied_); s.ok()) {
          to_mark_applied_.clear();
        } else {
          log_->error("cannot mark intents applied (retrying): {}", s.ToString());
          recorded = false;
        }
      }
      while (recorded && !to_mark_failed_.empty()) {
        const auto& [seqs, reason] = to_mark_failed_.back();
        if (Status s = spool_->MarkFailed(seqs, reason); !s.ok()) {
          log_->error("cannot park intents (retrying): {}", s.ToString());
          recorded = false;
          break;
        }
        to_mark_failed_.pop_back();
      }
      // An outcome is told only once the spool holds it, so a waiter never sees it undone.
      if (recorded) {
        for (const auto& [seq, outcome] : to_resolve_) resolved_[seq] = outcome;
        while (resolved_.size() > kMaxRemembered) resolved_.erase(resolved_.begin());
        to_resolve_.clear();
      }
    }
    if (recorded) outcome_cv_.notify_all();
  }
  if (options_.on_event) {
    for (const RegistrarEvent& event : events_) options_.on_event(event);
  }
  events_.clear();
}

void Reconciler::Emit(RegistrarEvent event) { events_.push_back(std::move(event)); }

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
  if (state == SessionState::kClosed) FlushResolved();
}

Result<Outcome> Reconciler::WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(24 * 365));
  Result<SpoolStats> spool_stats = spool_->Stats();
  const uint64_t issued_below = spool_stats.ok() ? spool_stats->next_sequence : UINT64_MAX;
  std::unique_lock lock(outcome_mu_);
  for (;;) {
    auto it = resolved_.find(ticket);
    if (it != resolved_.end()) return it->second;
    if (closed_) return Status::InvalidArgument("the registrar is closed");
    if (ticket == 0 || ticket >= issued_below || (ticket < first_own_ticket_ && !spool_->GetPending(ticket).ok())) {
      return Status::NotFound("ticket " + std::to_string(ticket) +
                              " is not pending and its outcome is not known (it was resolved before this "
                              "registrar was opened, or never issued)");
    }
    if (outcome_cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      it = resolved_.find(ticket);
      if (it != resolved_.end()) return it->second;
      return Status::TimedOut("ticket " + std::to_string(ticket) + " is not resolved yet");
    }
  }
}

RegistrarStats Reconciler::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace zkspool
