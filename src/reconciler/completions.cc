// What comes back: every answer moves its path to its next state. Retries live here and
// nowhere else: uncertain outcomes are tried again shortly (once connected), conflicts, ACL
// denials and parents that cannot be made back off exponentially, and nothing spins.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "reconciler/reconciler.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kRetryDelay{100};
constexpr int kParentTriesBeforeBackoff = 2;

bool IsWrite(StepKind kind) {
  return kind == StepKind::kCreate || kind == StepKind::kSetData || kind == StepKind::kReplace ||
         kind == StepKind::kDelete;
}

// Whether the write of `intent` is what ZooKeeper shows: our node with its data, or (a delete)
// no node of ours.
bool TookEffect(const Intent& intent, int rc, const NodeState& node, const Ownership& ownership) {
  if (intent.op == Op::kDelete) return rc == ZNONODE || (rc == ZOK && !ownership.IsOurs(node.ephemeral_owner) &&
                                                         node.ephemeral_owner != 0);
  if (rc != ZOK || node.data != intent.data) return false;
  return intent.mode == NodeMode::kEphemeral ? ownership.IsOurs(node.ephemeral_owner) : node.ephemeral_owner == 0;
}

}  // namespace

Step Reconciler::SubmissionFailed(const std::string& path, int rc) {
  if (IsUncertain(rc)) return Step(StepKind::kRetryLater, path, -1, zerror(rc));
  return Step(StepKind::kFailed, path, -1, "submitting a call for " + path + " failed: " + zerror(rc));
}

void Reconciler::HandleCompletion(const Completion& c) {
  auto it = calls_.find(c.token);
  if (it == calls_.end()) return;
  Call call = std::move(it->second);
  calls_.erase(it);
  const size_t window = pacer_.window();
  const auto now = Clock::now();
  pacer_.OnAnswer(call.ops, call.sent, now);
  if (pacer_.window() < window) EmitCut(window, fmt::format("a call took {} ms", MsBetween(call.sent, now)));
  if (c.rc == ZSESSIONEXPIRED && c.token >= first_token_of_handle_ && connected_) server_ended_session_ = true;
  switch (call.kind) {
    case Call::Kind::kParent:
      --ops_in_flight_;
      if (c.rc != ZOK && c.rc != ZNODEEXISTS) {
        known_parents_.erase(call.parent);
        last_parent_error_ = "creating the parent " + call.parent + " failed: " + zerror(c.rc);
        if (c.rc == ZNONODE && call.parent.rfind('/') == 0) namespace_root_missing_ = true;
      }
      return;
    case Call::Kind::kPath:
      --ops_in_flight_;
      if (call.works[0]->state() == PathState::kCallOut) OnPathAnswer(*call.works[0], c);
      return;
    case Call::Kind::kMulti: {
      ops_in_flight_ -= call.works.size();
      // Nothing in a failed multi was applied. The op that failed it goes alone next time (its
      // create then meets the apply rules). When it failed for its parent (missing, or one we
      // may not write under), its siblings would fail alike: they go alone too, pipelined.
      // When a node to re-create was there after all, so may the ones after it be: those are
      // read first. The rest go in the next multi.
      std::string failed_parent;
      if (c.rc != ZOK && !IsUncertain(c.rc) && c.failed_op >= 0 &&
          (c.failed_op_rc == ZNONODE || c.failed_op_rc == ZNOAUTH || c.failed_op_rc == ZNOCHILDRENFOREPHEMERALS)) {
        const std::string& failed = call.works[c.failed_op]->path();
        failed_parent = failed.substr(0, failed.rfind('/'));
        if (c.failed_op_rc == ZNONODE) known_parents_.clear();  // a parent may have gone
      }
      std::vector<PathWork*> again;  // back to the front of the line, in their order
      for (size_t i = 0; i < call.works.size(); ++i) {
        PathWork* work = call.works[i];
        if (work->state() != PathState::kCallOut) continue;
        if (c.rc == ZOK || IsUncertain(c.rc)) {
          OnPathAnswer(*work, c);
          continue;
        }
        work->in_doubt.reset();
        const std::string& path = work->path();
        if (static_cast<int>(i) == c.failed_op || c.failed_op < 0 ||
            (!failed_parent.empty() && path.compare(0, path.rfind('/'), failed_parent) == 0 &&
             path.rfind('/') == failed_parent.size())) {
          work->alone = true;
        }
        if (c.failed_op_rc == ZNODEEXISTS && static_cast<int>(i) > c.failed_op && work->goal == Goal::kReassert) {
          work->verify_first = true;
        }
        work->task.reset();
        paths_.SetState(*work, PathState::kQueued);
        again.push_back(work);
      }
      for (auto w = again.rbegin(); w != again.rend(); ++w) MakeReady(**w, /*front=*/true);
      return;
    }
  }
}

void Reconciler::OnPathAnswer(PathWork& work, const Completion& c) {
  if (work.goal == Goal::kVerify) {
    OnVerified(work, c.rc, c.node);
    return;
  }
  if (!IsUncertain(c.rc)) {
    work.in_doubt.reset();
  } else if (IsWrite(work.step.kind) && work.goal == Goal::kApply) {
    work.in_doubt = SpooledIntent{work.task_seq, work.task->desired()};  // it may have applied
    paths_.Recount(work);
  }
  Step next = work.step.kind == StepKind::kRead ? work.task->OnRead(c.rc, c.node) : work.task->OnResult(c.rc);
  Advance(work, std::move(next));
}

void Reconciler::Advance(PathWork& work, Step step) {
  work.step = std::move(step);
  switch (work.step.kind) {
    case StepKind::kDone:
      Resolve(work, Outcome::kApplied, work.step.reason);
      return;
    case StepKind::kFailed:
      Resolve(work, Outcome::kFailed, work.step.reason);
      return;
    case StepKind::kConflict: {
      if (work.task->met_persistent() && RegisteredPersistent(work.path())) {
        // Our own node, put persistent earlier: the new mode replaces it now, no backoff.
        work.task->OwnPersistent();
        work.step = work.task->Restart();
        paths_.SetState(work, PathState::kQueued);
        MakeReady(work);
        return;
      }
      if (work.attempts == 0) {
        log_->warn("conflict: {}; retrying with backoff, never taking it over", work.step.reason);
      }
      const Clock::duration delay = NextBackoff(work);
      {
        std::lock_guard lock(mu_);
        ++stats_.conflicts;
        stats_.last_error = work.step.reason;
      }
      RegistrarEvent event;
      event.kind = RegistrarEvent::Kind::kConflict;
      event.path = work.path();
      event.seq = work.task_seq;
      event.message = work.step.reason;
      Emit(std::move(event));
      BackOff(work, PathState::kBackoffConflict, delay, work.step.reason);
      return;
    }
    case StepKind::kRetryLater: {
      std::lock_guard lock(mu_);
      ++stats_.retried;
    }
      BackOff(work, PathState::kBackoffUncertain, kRetryDelay, work.step.reason);
      return;
    case StepKind::kParentMissing:
      OnParentMissing(work);
      return;
    default:  // the next call of the task
      paths_.SetState(work, PathState::kQueued);
      MakeReady(work);
      return;
  }
}

// Whether the registered set holds `path` as a put of a persistent kind: the one way to know
// that a persistent node there is ours. One read, only when such a node was met.
bool Reconciler::RegisteredPersistent(const std::string& path) const {
  Result<SpooledIntent> registered = spool_->GetRegistered(path);
  return registered.ok() && registered->intent.op == Op::kPut && registered->intent.mode != NodeMode::kEphemeral;
}

// A create found no parent. The ancestors that can be made are sent just ahead of the create
// again; a path whose parent cannot be made (one with an intent of its own not applied yet, a
// missing chroot, parents that failed twice) waits with a backoff, visible in Stats and events.
void Reconciler::OnParentMissing(PathWork& work) {
  ++work.parent_tries;
  AncestorPlan plan = Plan(work.path());
  std::string reason;
  if (plan.top_level || namespace_root_missing_) {
    work.parent_tries = 0;  // not its parents' fault: once the chroot is there they are made
    std::optional<std::string> chroot = ChrootMaker::ChrootOf(options_.hosts);
    reason = chroot ? "the chroot " + *chroot + " does not exist; creating it"
                    : "ZooKeeper says the root above " + work.path() + " is missing";
    if (chroot && !chroot_maker_) {
      chroot_maker_ = std::make_unique<ChrootMaker>(options_.hosts, session_->negotiated_timeout_ms(),
                                                    options_.digest_auth, options_.acl);
    }
  } else if (!plan.blocked_by.empty()) {
    WaitForParent(work, plan.blocked_by);
    return;
  } else if (work.parent_tries > kParentTriesBeforeBackoff) {
    reason = "its parents could not be created" + (last_parent_error_.empty() ? "" : ": " + last_parent_error_);
  } else {
    if (plan.missing.empty()) known_parents_.clear();  // we thought they existed: ask again
    IssueParents(plan.missing.empty() ? Plan(work.path()).missing : plan.missing, work.task->desired());
    work.step = work.task->Restart();
    paths_.SetState(work, PathState::kQueued);
    MakeReady(work, /*front=*/true);
    return;
  }
  if (work.attempts == 0) log_->warn("{}: {}; retrying with backoff", work.path(), reason);
  BackOffForParent(work, std::move(reason));
}

// An ancestor has a put of its own that is not applied yet: the create waits for it, whatever
// stands at that ancestor's path now (an empty parent made for the child would take the place of
// what the ancestor's intent wants there, and a node someone else holds is no parent of ours).
void Reconciler::WaitForParent(PathWork& work, const std::string& ancestor) {
  BackOffForParent(work, "waits for its parent " + ancestor + ", which has an intent of its own");
}

void Reconciler::BackOffForParent(PathWork& work, std::string reason) {
  const Clock::duration delay = NextBackoff(work);
  RegistrarEvent event;
  event.kind = RegistrarEvent::Kind::kWaiting;
  event.path = work.path();
  event.seq = work.task_seq;
  event.message = reason;
  Emit(std::move(event));
  BackOff(work, PathState::kWaitingParent, delay, std::move(reason));
}

// The read that decides an expired intent whose write may have applied it: if our node is
// there as it says, it was applied (in time) and is recorded as registered; otherwise the
// expiry goes ahead.
void Reconciler::OnVerified(PathWork& work, int rc, const NodeState& node) {
  if (IsUncertain(rc)) {
    BackOff(work, PathState::kBackoffUncertain, kRetryDelay, std::string("reading ") + work.path() + ": " + zerror(rc));
    return;
  }
  SpooledIntent doubt = std::move(*work.in_doubt);
  work.in_doubt.reset();
  work.goal = Goal::kApply;
  if (TookEffect(doubt.intent, rc, node, ownership_)) {
    log_->info("{}: the write of intent {} that had no answer did apply; recorded as applied", work.path(),
               doubt.seq);
    work.task = std::make_unique<ApplyTask>(doubt.intent, &ownership_);
    work.task_seq = doubt.seq;
    Resolve(work, Outcome::kApplied, "");
    return;
  }
  next_expire_check_ = Clock::now();  // nothing of it is there: now it may expire
  paths_.SetState(work, PathState::kQueued);
  MakeReady(work);
}

void Reconciler::BackOff(PathWork& work, PathState state, Clock::duration delay, std::string reason) {
  work.task.reset();  // it starts over afterwards
  work.reason = std::move(reason);
  work.not_before = Clock::now() + delay;
  paths_.SetState(work, state);
  paths_.Recount(work);
  delayed_.emplace(work.not_before, work.path());
}

// The wait doubles only when a retry that waited out its backoff meets the same obstacle. A later
// intent is tried at once (it supersedes the stuck one) and may meet it many times a second: if
// each of those doubled the wait, a path held for 2 s by another client waited the full maximum
// (30 s) after it was let go.
Reconciler::Clock::duration Reconciler::NextBackoff(PathWork& work) const {
  if (Clock::now() >= work.not_before) ++work.attempts;
  const int shift = std::clamp(work.attempts - 1, 0, 16);
  return std::min<Clock::duration>(options_.conflict_backoff_max, options_.conflict_backoff_min * (int64_t{1} << shift));
}

}  // namespace zkspool
