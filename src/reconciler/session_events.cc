// Connection and session events: what a (re)connect, a lost connection, an expired session or a
// rejected credential means for the work, and closing a handle.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "reconciler/reconciler.h"

namespace zkspool {
namespace {

constexpr std::chrono::seconds kAuthFailedRetry{5};
constexpr std::chrono::seconds kSaveSessionRetry{1};
constexpr std::chrono::seconds kUnreachableReportEvery{60};

}  // namespace

void Reconciler::HandleEvents(const std::vector<ZkEvent>& events) {
  for (const ZkEvent& e : events) {
    if (e.type != ZOO_SESSION_EVENT) {
      watched_.erase(e.path);  // a watch fires once
      // A node of ours deleted or changed from outside: check it again, unless work for the
      // path is under way (its outcome settles the node).
      if (!connected_ || (e.type != ZOO_DELETED_EVENT && e.type != ZOO_CHANGED_EVENT)) continue;
      if (PathWork* work = paths_.Find(e.path)) {
        // An outcome being recorded was reached before this change: the node is read again
        // once it is (AfterResolution). Any other state's own call still settles the node.
        if (work->state() == PathState::kRecording) work->changed_outside = true;
        continue;
      }
      ReassertRegistered(e.path);
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
      RecordOutcomesNow();  // as after an expiry: the next session's scan must see them
      session_dead_ = true;
      retry_session_at_ = Clock::now() + kAuthFailedRetry;
    } else if (connected_) {  // CONNECTING / ASSOCIATING: the connection is gone, maybe not the session
      const size_t window = pacer_.window();
      pacer_.OnConnectionLoss(Clock::now());
      EmitCut(window, "the connection was lost");
      MarkDisconnected(Clock::now());
      log_->warn("lost the connection to ZooKeeper; session {} may still be alive",
                 FormatSessionId(ownership_.current_session));
      SetSessionState(SessionState::kConnecting);
    }
  }
}

void Reconciler::OnConnected() {
  SessionInfo id = session_->client_id();
  connected_ = true;
  if (id.id != ownership_.current_session) {
    // A new session: a resume that the server answered with another id counts as one too. It
    // owns nothing yet, so its ephemerals are created first and only those found are read.
    if (ownership_.current_session != 0) ownership_.previous_sessions.insert(ownership_.current_session);
    ownership_.current_session = id.id;
    watched_.clear();  // watches end with the session that left them
    log_->info("new ZooKeeper session {} (timeout {} ms): re-creating registered nodes", FormatSessionId(id.id),
               session_->negotiated_timeout_ms());
    SaveSession();
    {
      std::lock_guard lock(mu_);
      ++stats_.sessions_started;
    }
    StartScan(/*create_first=*/true);
    // Re-asserts queued before it began (a watch saw our node go as the old session ended)
    // are the scan's to do: it creates them in multis, in path order, once each. Left queued,
    // each read first, and the scan, finding it re-created, failed a whole multi on it.
    std::vector<PathWork*> queued;
    const auto collect = [&](PathWork& work) {
      if (work.goal == Goal::kReassert) queued.push_back(&work);
    };
    paths_.ForEachIn(PathState::kQueued, collect);
    paths_.ForEachIn(PathState::kBackoffUncertain, collect);
    for (PathWork* work : queued) paths_.Erase(*work);
  } else if (!verified_since_open_) {
    log_->info("resumed ZooKeeper session {}: verifying registered nodes", FormatSessionId(id.id));
    StartScan(/*create_first=*/false);
  } else {
    log_->info("reconnected to ZooKeeper session {}", FormatSessionId(id.id));
  }
  verified_since_open_ = true;
  known_parents_.clear();  // parent creates sent on the last connection may never have arrived
  // The pacer starts small on every connection. After a reconnect a random wait first: a fleet
  // that lost the ensemble together finds it again together, and must not drain in lockstep.
  negotiated_timeout_ms_ = session_->negotiated_timeout_ms();
  pacer_.SetSessionTimeout(std::chrono::milliseconds(negotiated_timeout_ms_));
  pacer_.Restart();
  if (connected_before_ && options_.pace) hold_until_ = Clock::now() + Jitter(options_.reconnect_jitter);
  connected_before_ = true;
  SetSessionState(SessionState::kConnected);
  RunExpire();  // drop what ran out while we were away before anything is sent
  // Calls whose outcome the lost connection hid may go again now.
  const auto now = Clock::now();
  paths_.ForEachIn(PathState::kBackoffUncertain, [&](PathWork& work) {
    work.not_before = now;
    paths_.SetState(work, PathState::kQueued);
    MakeReady(work);
  });
}

// A new session must be in the spool before anything is created on it: after a kill -9, an
// ephemeral node of a session the spool does not know looks like another client's (a conflict,
// and a flap once it is replaced). Until it is saved, nothing is sent; it is tried again each
// second, loudly.
void Reconciler::SaveSession() {
  const SessionInfo id = session_->client_id();
  if (Status s = spool_->SaveSession(id); !s.ok()) {
    std::string message = fmt::format(
        "cannot save ZooKeeper session {} in the spool ({}); nothing is sent on it until it is saved",
        FormatSessionId(id.id), s.ToString());
    if (session_saved_) log_->error("{}", message);
    session_saved_ = false;
    retry_save_at_ = Clock::now() + kSaveSessionRetry;
    std::lock_guard lock(mu_);
    stats_.last_error = std::move(message);
    return;
  }
  if (!session_saved_) log_->info("saved ZooKeeper session {} in the spool; applying again", FormatSessionId(id.id));
  session_saved_ = true;
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
  log_->warn("ZooKeeper session {} expired: starting a new one", FormatSessionId(ownership_.current_session));
  SetSessionState(SessionState::kExpired);
  // The dead handle fails every call; close it here, on our thread. Settle what it answered
  // before the new session exists: a create it confirmed is recorded now, so the new session's
  // re-creation includes it rather than racing it.
  CloseHandle();
  RecordOutcomesNow();
  scan_ = {};  // the new session starts its own
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
// those paths are tried again on the next session, and the calls' memory is freed.
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
  for (const auto& [token, call] : calls_) unanswered.push_back(token);
  mailbox_->FreeUnanswered();
  if (unanswered.empty()) return;
  log_->warn("{} calls of the closed ZooKeeper handle were never answered; they are tried again",
             unanswered.size());
  for (uint64_t token : unanswered) {
    Completion c;
    c.token = token;
    c.rc = ZCLOSING;
    HandleCompletion(c);
  }
}

}  // namespace zkspool
