// What is sent: pending intents loaded from the spool, the registered set streamed for
// re-creation and anti-entropy, and the window that every call goes through, with fresh creates
// in multis and their missing parents sent just ahead.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "reconciler/reconciler.h"

namespace zkspool {
namespace {

constexpr size_t kLoadChunk = 1000;
constexpr size_t kMinActivePaths = 1000;
// Paths held in memory at once, and their bytes: a path in backoff holds no room in the window
// but does hold memory, so these bound it whatever the spool or ZooKeeper do.
constexpr size_t kMaxTrackedPaths = 100'000;
constexpr size_t kMaxTrackedBytes = 64u << 20;
// Creates per multi, and their bytes: well under jute.maxbuffer, whose excess makes the server
// drop the connection and fail every outstanding request. kOpOverhead covers what a create op
// adds to its path and data in the request (header, ACL, flags).
constexpr size_t kMaxBatch = 1000;
constexpr size_t kMaxBatchBytes = 256 * 1024;
constexpr size_t kOpOverhead = 64;
constexpr size_t kWatchesPerPass = 200;
constexpr size_t kMaxKnownParents = 65'536;  // past this it starts over: a few parents made again

// How long watches wait for a write of outcomes under way (WatchApplied).
constexpr std::chrono::seconds kMaxWatchHold{2};

// What a keep_mode intent takes from the put before it (see ResolveKeepMode): its mode, not its
// path and data, which would be a copy of each per loaded put.
Intent ModeOf(const Intent& put) {
  Intent mode;
  mode.op = put.op;
  mode.mode = put.mode;
  mode.node_ttl_ms = put.node_ttl_ms;
  return mode;
}

bool IsBatchable(const PathWork& work) {
  return work.goal != Goal::kVerify && work.step.kind == StepKind::kCreate && !work.alone &&
         work.task->desired().mode != NodeMode::kPersistentWithTtl;
}

}  // namespace

bool Reconciler::MayLoadMore() const {
  const size_t active_limit = std::max(4 * options_.max_in_flight, kMinActivePaths);
  return paths_.active() < active_limit && paths_.size() < kMaxTrackedPaths && paths_.bytes() < kMaxTrackedBytes;
}

// What may still be loaded before the paths in memory hold kMaxTrackedBytes: a chunk of 1,000
// intents of 1 MiB each would otherwise load 1 GiB at once.
size_t Reconciler::TrackedBytesRoom() const {
  return paths_.bytes() < kMaxTrackedBytes ? kMaxTrackedBytes - paths_.bytes() : 0;
}

// One chunk per call: what is loaded is sent before more is read, so the first calls of a drain
// go out after one chunk instead of after the whole active limit (4,000 intents took 13-17 ms
// to load). `read_more_` brings the loop straight back for the next chunk.
void Reconciler::LoadPending() {
  // Read to the end with nothing appended since (every append notifies): a read would find
  // nothing, and a read costs an iterator and a seek, on every pass of the loop.
  const uint64_t notifies = notifies_.load();
  if (read_to_end_at_ == notifies || !MayLoadMore()) return;
  Result<std::vector<SpooledIntent>> chunk = spool_->ReadPending(read_cursor_, kLoadChunk, TrackedBytesRoom());
  if (!chunk.ok()) {
    log_->error("cannot read pending intents: {}", chunk.status().ToString());
    return;
  }
  for (SpooledIntent& r : *chunk) {
    read_cursor_ = r.seq + 1;
    AddIntent(std::move(r));
  }
  // A chunk may be short because of the byte bound: only an empty one says the end was reached.
  if (chunk->empty()) {
    read_to_end_at_ = notifies;
  } else {
    read_more_ = true;
  }
}

void Reconciler::AddIntent(SpooledIntent intent) {
  bool added = false;
  PathWork& work = paths_.FindOrAdd(intent.intent.path, added);
  if (intent.intent.keep_mode) {
    if (!work.mode_source_known) {
      Result<SpooledIntent> registered = spool_->GetRegistered(work.path());
      if (registered.ok()) work.mode_source = ModeOf(registered->intent);
      work.mode_source_known = true;
    }
    ResolveKeepMode(intent.intent, work.mode_source ? &*work.mode_source : nullptr);
  }
  if (intent.intent.op == Op::kPut) {
    work.mode_source = ModeOf(intent.intent);
    work.mode_source_known = true;
  }
  work.seqs.push_back(intent.seq);
  work.target = std::move(intent);
  if (added) {
    MakeReady(work);
  } else if (work.SupersedesAtOnce()) {
    // Nothing of the old target is out: the new one takes over now, whatever held the old one.
    work.goal = Goal::kApply;
    work.task.reset();
    work.alone = false;
    work.parent_tries = 0;
    work.reason.clear();
    paths_.SetState(work, PathState::kQueued);
    MakeReady(work);
  } else if (work.goal == Goal::kReassert) {
    work.goal = Goal::kApply;  // once the re-assert's call is answered, the intent decides
  }
  paths_.Recount(work);
}

void Reconciler::StartScan(bool create_first) {
  scan_ = {};
  scan_.active = true;
  scan_.create_first = create_first;
  scan_.since = spool_->Snapshot();
}

// One chunk per call, as LoadPending.
void Reconciler::PullRegistered() {
  if (!scan_.active || !MayLoadMore()) return;
  const size_t active_limit = std::max(4 * options_.max_in_flight, kMinActivePaths);
  const size_t want = std::min(kLoadChunk, active_limit - paths_.active());
  Result<RegisteredChunk> chunk = spool_->ReadRegisteredUnchanged(*scan_.since, scan_.after, want, TrackedBytesRoom());
  if (!chunk.ok()) {
    log_->error("cannot read the registered set: {}", chunk.status().ToString());
    scan_ = {};
    return;
  }
  scan_.after = chunk->last_path;
  for (const SpooledIntent& node : chunk->nodes) {
    if (paths_.Find(node.intent.path) != nullptr) continue;  // its work settles the node
    // A new session owns nothing: its ephemerals are created outright (in multis), and only
    // those that exist are read. Anything else is read first: it is most likely there.
    Reassert(node, !(scan_.create_first && node.intent.mode == NodeMode::kEphemeral));
  }
  if (chunk->done) {
    scan_ = {};
    std::lock_guard lock(mu_);
    ++stats_.registered_scans;
  } else {
    read_more_ = true;
  }
}

void Reconciler::Reassert(const SpooledIntent& node, bool verify_first) {
  PathWork& work = paths_.Add(node.intent.path);
  work.goal = Goal::kReassert;
  work.target = node;
  work.mode_source = ModeOf(node.intent);
  work.mode_source_known = true;
  work.verify_first = verify_first;
  paths_.Recount(work);
  MakeReady(work);
}

void Reconciler::ReassertRegistered(const std::string& path) {
  Result<SpooledIntent> registered = spool_->GetRegistered(path);
  if (registered.ok()) Reassert(*registered, /*verify_first=*/true);
}

void Reconciler::MakeReady(PathWork& work, bool front) {
  if (front) {
    ready_.PushFront(work.ready_link);
  } else {
    ready_.PushBack(work.ready_link);
  }
}

void Reconciler::WakeDelayed(Clock::time_point now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    PathWork* work = paths_.Find(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    if (work == nullptr || work->not_before > now) continue;  // superseded or backed off again since
    const PathState state = work->state();
    if (state != PathState::kBackoffConflict && state != PathState::kBackoffUncertain &&
        state != PathState::kWaitingParent) {
      continue;
    }
    paths_.SetState(*work, PathState::kQueued);
    MakeReady(*work);
  }
}

// Creates the path's task when it has none and says whether it may be sent: an intent is never
// sent after its TTL ran out (it is dropped here, or its node read first if an earlier write of
// it may have applied it).
bool Reconciler::Prepare(PathWork& work) {
  if (work.goal == Goal::kApply && IsExpired(work.target.intent, NowMs())) {
    switch (work.MayExpire(work.target.seq)) {
      case PathWork::ExpiryVerdict::kDrop:
        ExpireNow({work.target.seq});  // may retarget the path or forget it
        return false;
      case PathWork::ExpiryVerdict::kVerifyFirst:
        work.goal = Goal::kVerify;
        work.task.reset();
        break;
      case PathWork::ExpiryVerdict::kNo:
        return false;
    }
  }
  if (work.goal == Goal::kVerify) {
    work.task_seq = work.in_doubt->seq;
    work.step = Step(StepKind::kRead, work.path());
    return true;
  }
  if (!work.task) {
    const bool reassert = work.goal == Goal::kReassert;
    work.task = std::make_unique<ApplyTask>(work.target.intent, &ownership_, reassert && work.verify_first);
    work.task_seq = reassert ? 0 : work.target.seq;
    work.step = work.task->Restart();
    work.wrote = false;
    paths_.Recount(work);
  }
  return true;
}

bool Reconciler::HasOwnPut(std::string_view path) const {
  const PathWork* work = paths_.Find(path);
  if (work == nullptr || work->target.intent.op != Op::kPut) return false;
  return work->goal == Goal::kReassert || !work->seqs.empty();
}

bool Reconciler::InMulti(std::string_view path) const {
  const PathWork* work = paths_.Find(path);
  return work != nullptr && work->in_multi;
}

AncestorPlan Reconciler::Plan(const std::string& path) const {
  return PlanAncestors(
      path, [this](std::string_view p) { return known_parents_.contains(p); },
      [this](std::string_view p) { return HasOwnPut(p); });
}

uint64_t Reconciler::Submit(Call call, size_t ops) {
  const uint64_t token = next_token_++;
  call.ops = ops;
  call.sent = Clock::now();
  calls_.emplace(token, std::move(call));
  ops_in_flight_ += ops;
  pacer_.Spend(ops);
  return token;
}

size_t Reconciler::Room(Clock::time_point now) {
  const size_t window = pacer_.window();
  const size_t free = window > ops_in_flight_ ? window - ops_in_flight_ : 0;
  return std::min(free, pacer_.Allowance(now));
}

// Time during which work was ready but the pacer held it back (Stats().throttled_ms).
void Reconciler::NoteThrottled(bool throttled, Clock::time_point now) {
  if (throttled && !throttled_since_) throttled_since_ = now;
  if (!throttled && throttled_since_) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - *throttled_since_);
    throttled_since_.reset();
    std::lock_guard lock(mu_);
    stats_.throttled_ms += static_cast<uint64_t>(waited.count());
  }
}

void Reconciler::EmitCut(size_t before, std::string_view why) {
  const size_t after = pacer_.window();
  if (after >= before) return;
  std::string message = fmt::format(
      "the pacer halved what may be in flight from {} to {} operations: {} (the limit is {} ms, a sixth of the "
      "session timeout)",
      before, after, why, static_cast<int>(negotiated_timeout_ms_ * Pacer::kCutAbove));
  if (pacer_.cuts() == 1 || pacer_.cuts() % 100 == 0) log_->warn("{}", message);
  RegistrarEvent event;
  event.kind = RegistrarEvent::Kind::kPaced;
  event.message = std::move(message);
  Emit(std::move(event));
}

void Reconciler::IssueReady() {
  read_more_ = false;
  // Loading needs no connection: during an outage the backlog is loaded (within the bounds of
  // MayLoadMore) as it is spooled, so when ZooKeeper is back the first multis leave at once
  // instead of after the loading and the first touch of the memory it takes (about 2.4 us per
  // path on a cold heap, against 0.1 us warm).
  LoadPending();
  // Here, not in WatchApplied, which the returns below skip: a hold must end at any pass that
  // finds the recorder idle, or one left over from before an outage would cut a later one short.
  if (!recorder_->Busy()) watches_held_until_.reset();
  if (!connected_ || !session_saved_ || records_failing_ > 0) return;
  const auto now = Clock::now();
  WakeDelayed(now);
  PullRegistered();
  if (now < hold_until_) {
    NoteThrottled(!ready_.empty(), now);
    return;
  }
  if (!calls_.empty()) {  // a call stuck past the cut line slows us before its answer comes
    const size_t window = pacer_.window();
    const Clock::time_point oldest = calls_.begin()->second.sent;
    pacer_.OnOldestOut(oldest, now);
    if (pacer_.window() < window) EmitCut(window, fmt::format("a call has been out for {} ms", MsBetween(oldest, now)));
  }
  // Half the window per multi, so that one multi is on the wire while the answer to the other
  // is handled here.
  const size_t batch_target = std::clamp<size_t>(pacer_.window() / 2, 1, kMaxBatch);
  std::vector<PathWork*> multi;
  size_t multi_bytes = 0;
  bool synced = false;
  while (!ready_.empty() && connected_) {
    const size_t room = Room(now);  // what is out changes as calls are issued below
    if (multi.size() >= room) break;
    // Wait for room for half a multi at least: refilling the window as each op completes would
    // break a backlog into ever smaller multis. (Not a whole one: a parent made ahead of the
    // first multi takes one op of the window, and would keep the second multi of the first
    // round trip back.)
    if (multi.empty() && ops_in_flight_ > 0 && room < (batch_target + 1) / 2) break;
    PathWork* work = ready_.PopFront();
    if (work->state() != PathState::kQueued || work->in_multi || !Prepare(*work)) continue;
    if (work->step.kind == StepKind::kRead) {
      if (!synced) {
        IssueSync(session_->handle());  // one sync ahead of this pass's reads (see IssueSync)
        synced = true;
      }
      work->step.watch = work->target.intent.op == Op::kPut && TakeWatch(work->path());
    }
    AncestorPlan plan;
    if (work->step.kind == StepKind::kCreate && work->goal != Goal::kVerify) {
      plan = Plan(work->path());
      // Its parent is to be made by an intent of its own that is not ahead of it in this multi.
      if (!plan.blocked_by.empty() && !InMulti(plan.blocked_by)) {
        WaitForParent(*work, plan.blocked_by);
        continue;
      }
    }
    if (!IsBatchable(*work)) {
      IssueOne(*work);
      continue;
    }
    const Intent& desired = work->task->desired();
    const size_t bytes = desired.path.size() + desired.data.size() + kOpOverhead;
    if (bytes >= kMaxBatchBytes) {  // a large node goes alone, so no multi nears jute.maxbuffer
      IssueOne(*work);
      continue;
    }
    if (multi_bytes + bytes > kMaxBatchBytes) {
      IssueMulti(multi);
      multi_bytes = 0;
    }
    IssueParents(plan.missing, desired);
    work->in_multi = true;
    multi.push_back(work);
    multi_bytes += bytes;
    if (multi.size() >= batch_target) {
      IssueMulti(multi);
      multi_bytes = 0;
    }
  }
  IssueMulti(multi);
  NoteThrottled(!ready_.empty(), now);
  WatchApplied();
}

void Reconciler::IssueOne(PathWork& work) {
  const uint64_t token = next_token_;
  const Intent& desired = work.task ? work.task->desired() : work.target.intent;
  int rc = IssueStep(session_->handle(), work.step, desired, token, mailbox_.get());
  if (rc != ZOK) {
    Advance(work, SubmissionFailed(work.path(), rc));
    return;
  }
  Submit(Call{Call::Kind::kPath, {&work}, {}}, 1);
  if (work.step.kind != StepKind::kRead) work.wrote = true;
  paths_.SetState(work, PathState::kCallOut);
}

void Reconciler::IssueMulti(std::vector<PathWork*>& multi) {
  if (multi.size() == 1) {
    multi[0]->in_multi = false;
    IssueOne(*multi[0]);
  }
  if (multi.size() <= 1) {
    multi.clear();
    return;
  }
  std::vector<const Intent*> creates;
  Call call{Call::Kind::kMulti, multi, {}};
  for (PathWork* work : multi) {
    work->in_multi = false;
    creates.push_back(&work->task->desired());
  }
  int rc = IssueCreateBatch(session_->handle(), creates, next_token_, mailbox_.get());
  if (rc == ZOK) {
    Submit(std::move(call), multi.size());
    for (PathWork* work : multi) {
      work->wrote = true;
      paths_.SetState(*work, PathState::kCallOut);
    }
  } else {
    for (PathWork* work : multi) Advance(*work, SubmissionFailed(work->path(), rc));
  }
  multi.clear();
}

// A multi of creates fails whole when one parent is missing, and a single create then finds it
// missing too. So the ancestors not known to exist are created first, shallowest first, on the
// same connection: ZooKeeper runs one session's requests in order, so the calls sent after them
// find them. Their answers are not waited for: if one fails, so does the create after it, which
// then backs off. They count against the window.
void Reconciler::IssueParents(const std::vector<std::string>& parents, const Intent& acl_of) {
  for (const std::string& parent : parents) {
    if (known_parents_.size() >= kMaxKnownParents) known_parents_.clear();
    if (IssueStep(session_->handle(), Step(StepKind::kCreateParent, parent), acl_of, next_token_, mailbox_.get()) !=
        ZOK) {
      return;
    }
    Submit(Call{Call::Kind::kParent, {}, parent}, 1);
    known_parents_.insert(parent);
  }
}

// Watches on the nodes we put, once nothing else waits: an extra request per node would halve
// the drain rate of a backlog. Nor, for up to kMaxWatchHold, while the recorder writes outcomes:
// at the end of a drain, the requests for 10,000 watches took the CPU the last write needed
// (its waiters waited 10-16 ms instead of 2). The hold is bounded because under a steady flow of
// intents the recorder may never be idle between passes. (The pass in which outcomes resolve
// runs before their write starts, so it may still send one pass of watches: with a full disk
// that is what watches a node just made, as nothing is sent while the spool refuses outcomes.)
void Reconciler::WatchApplied() {
  // The hold counts from the first pass in which watches were due while the recorder was busy,
  // and ends at any pass that finds it idle (IssueReady); once it has run out, watches go at
  // every pass until then, not one pass per hold.
  if (!connected_ || !ready_.empty() || ops_in_flight_ != 0 || to_watch_.empty()) return;
  if (recorder_->Busy()) {
    const auto now = Clock::now();
    if (!watches_held_until_) watches_held_until_ = now + kMaxWatchHold;
    if (now < *watches_held_until_) return;  // NextDeadline wakes us when it runs out
  }
  for (size_t i = 0; i < kWatchesPerPass && !to_watch_.empty(); ++i) {
    if (TakeWatch(to_watch_.front())) WatchNode(session_->handle(), to_watch_.front());
    to_watch_.pop_front();
  }
  if (!to_watch_.empty()) Wake();  // more next round
}

// The ZooKeeper client keeps one entry per watched path (and ignores a second watch on it), so
// the set of watched paths is what costs memory; past max_watches, anti-entropy alone notices.
bool Reconciler::TakeWatch(const std::string& path) {
  if (watched_.count(path)) return true;
  if (watched_.size() >= options_.max_watches) return false;
  watched_.insert(path);
  return true;
}

}  // namespace zkspool
