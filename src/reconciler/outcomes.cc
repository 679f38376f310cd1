// Outcomes: recording what was applied or parked in the spool (one write for everything that
// completed together, off the waiters' lock), telling waiters and the event callback once the
// spool holds it, and dropping intents whose TTL ran out.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <utility>

#include "reconciler/reconciler.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kExpireRecheck{200};
constexpr size_t kExpireChunk = 1000;
constexpr size_t kMaxToWatch = 100'000;  // beyond, anti-entropy's reads set the watches
constexpr size_t kMaxKnownParents = 65'536;

}  // namespace

// The path's intents up to the one its task applied resolve with `outcome`; a re-assert has
// none and is simply done.
void Reconciler::Resolve(PathWork& work, Outcome outcome, std::string reason) {
  Record record;
  record.work = &work;
  record.outcome = outcome;
  record.reason = std::move(reason);
  while (!work.seqs.empty() && work.seqs.front() <= work.task_seq) {
    record.seqs.push_back(work.seqs.front());
    work.seqs.pop_front();
  }
  const Intent& applied = work.task->desired();
  const bool put = outcome == Outcome::kApplied && applied.op == Op::kPut;
  if (put) {
    if (to_watch_.size() < kMaxToWatch && watched_.size() + to_watch_.size() < options_.max_watches) {
      to_watch_.push_back(work.path());
    }
    if (applied.mode != NodeMode::kEphemeral && known_parents_.size() < kMaxKnownParents) {
      known_parents_.insert(work.path());
    }
  }
  if (work.goal == Goal::kReassert || record.seqs.empty()) {
    if (outcome == Outcome::kFailed) {
      log_->error("re-creating registered node {} failed: {}", work.path(), record.reason);
      std::lock_guard lock(mu_);
      stats_.last_error = record.reason;
    } else if (work.wrote) {
      std::lock_guard lock(mu_);
      ++stats_.reasserted;
    }
    work.task.reset();
    AfterResolution(work);
    return;
  }
  if (outcome == Outcome::kApplied) CountApplyLatency(record.seqs, work.target);
  if (put) record.node = SpooledIntent{work.task_seq, std::move(*work.task).TakeDesired()};
  records_.push_back(std::move(record));
  work.task.reset();
  work.attempts = 0;
  work.parent_tries = 0;
  work.alone = false;
  work.reason.clear();
  paths_.SetState(work, PathState::kRecording);
  paths_.Recount(work);
}

void Reconciler::CountApplyLatency(const std::vector<uint64_t>& seqs, const SpooledIntent& target) {
  std::lock_guard lock(mu_);
  stats_.applied += seqs.size();
  // Only the intent that was sent: superseded ones are not in memory (they are older still).
  if (target.seq != seqs.back()) return;
  const uint64_t latency = static_cast<uint64_t>(std::max<int64_t>(NowMs() - target.intent.enqueued_at_ms, 0));
  const int bucket = latency == 0 ? 0 : std::min<int>(std::bit_width(latency - 1), LatencyHistogram::kBuckets - 1);
  ++stats_.apply_latency.counts[bucket];
  stats_.apply_latency.sum_ms += latency;
}

// One spool write for everything applied since the last one (and one per failure reason),
// written by the recorder while this thread goes on; then waiters and events. When the spool
// refuses, nothing is sent until it takes them (IssueReady), so what waits here stays bounded
// by the paths loaded.
void Reconciler::RecordOutcomes() {
  if (std::optional<OutcomeRecorder::Batch> written = recorder_->TakeDone()) {
    FinishRecording(std::move(*written));
    if (!to_watch_.empty()) Wake();  // WatchApplied waits while outcomes are being recorded
  }
  if (recorder_->Busy() || records_.empty() || (records_failing_ > 0 && Clock::now() < retry_records_at_)) return;
  StartRecording();
}

void Reconciler::RecordOutcomesNow() {
  recorder_->WaitIdle();
  RecordOutcomes();
  recorder_->WaitIdle();
  if (std::optional<OutcomeRecorder::Batch> written = recorder_->TakeDone()) FinishRecording(std::move(*written));
}

void Reconciler::StartRecording() {
  OutcomeRecorder::Batch batch;
  std::vector<uint64_t> all_seqs;
  for (Record& r : records_) {
    all_seqs.insert(all_seqs.end(), r.seqs.begin(), r.seqs.end());
    if (r.outcome == Outcome::kApplied) {
      batch.applied.push_back({r.work->path(), r.seqs, std::move(r.node)});  // given back if not written
    } else {
      batch.failed.push_back({r.seqs, r.reason});
    }
  }
  board_.Recording(all_seqs);  // before the spool write: a waiter never finds them in neither
  recording_ = std::move(records_);
  records_.clear();
  recorder_->Submit(std::move(batch));
}

void Reconciler::FinishRecording(OutcomeRecorder::Batch batch) {
  std::vector<Record> left;
  std::vector<std::pair<uint64_t, Outcome>> outcomes;
  size_t applied = 0, failed = 0;
  for (Record& r : recording_) {
    bool done;
    if (r.outcome == Outcome::kApplied) {
      done = batch.applied_done[applied];
      if (!done) r.node = std::move(batch.applied[applied].node);
      ++applied;
    } else {
      done = batch.failed_done[failed++];
    }
    if (!done) {
      left.push_back(std::move(r));
      continue;
    }
    for (uint64_t seq : r.seqs) outcomes.emplace_back(seq, r.outcome);
    if (options_.on_event) {
      RegistrarEvent event;
      event.kind = r.outcome == Outcome::kApplied ? RegistrarEvent::Kind::kApplied : RegistrarEvent::Kind::kFailed;
      event.seq = r.seqs.back();
      event.path = r.work->path();
      event.message = r.reason;
      Emit(std::move(event));
    }
    if (r.outcome == Outcome::kFailed) {
      std::lock_guard lock(mu_);
      stats_.failed += r.seqs.size();
      stats_.last_error = r.reason;
    }
    AfterResolution(*r.work);
  }
  board_.Publish(outcomes);
  recording_.clear();
  // What was not written goes first next time, before what resolved meanwhile.
  left.insert(left.end(), std::make_move_iterator(records_.begin()), std::make_move_iterator(records_.end()));
  records_ = std::move(left);
  if (batch.failure.ok()) {
    if (records_failing_ > 0) log_->info("the spool records outcomes again");
    records_failing_ = 0;
    return;
  }
  if (records_failing_ == 0 || records_failing_ % 50 == 0) {
    log_->error("cannot record {} outcomes in the spool (retrying; nothing is sent meanwhile): {}", records_.size(),
                batch.failure.ToString());
  }
  ++records_failing_;
  retry_records_at_ = Clock::now() + std::min<Clock::duration>(milliseconds(100) * records_failing_, std::chrono::seconds(5));
  std::lock_guard lock(mu_);
  stats_.last_error = batch.failure.ToString();
}

// A path whose outcome is settled goes on with the intents that arrived meanwhile, or is done.
void Reconciler::AfterResolution(PathWork& work) {
  work.task.reset();
  const bool changed_outside = std::exchange(work.changed_outside, false);
  if (work.seqs.empty()) {
    const std::string path = changed_outside ? work.path() : std::string();
    paths_.Erase(work);
    if (changed_outside && connected_) ReassertRegistered(path);
    return;
  }
  if (work.target.seq != work.seqs.back()) {  // the newest intent expired meanwhile
    RetargetToLatest(work);
    return;
  }
  work.goal = Goal::kApply;
  paths_.SetState(work, PathState::kQueued);
  paths_.Recount(work);
  MakeReady(work);
}

// Pending intents whose TTL ran out are dropped unless their path's state says otherwise (see
// PathWork::MayExpire): through the spool's expiry index, so a tick costs what is due.
void Reconciler::RunExpire() {
  const auto now = Clock::now();
  next_expire_check_ = now + kExpireRecheck;
  std::optional<int64_t> next = spool_->NextExpiry();
  const int64_t now_ms = NowMs();
  if (!next || *next > now_ms) return;
  Result<std::vector<SpooledIntent>> due = spool_->ReadDue(now_ms, kExpireChunk);
  if (!due.ok()) {
    log_->error("cannot read the intents due to expire: {}", due.status().ToString());
    return;
  }
  std::vector<uint64_t> drop;
  for (const SpooledIntent& r : *due) {
    PathWork* work = paths_.Find(r.intent.path);
    if (work == nullptr) {
      drop.push_back(r.seq);  // nothing of its path is under way: it was never sent
      continue;
    }

    switch (work->MayExpire(r.seq)) {
      case PathWork::ExpiryVerdict::kDrop:
        drop.push_back(r.seq);
        break;
      case PathWork::ExpiryVerdict::kNo:
        break;
      case PathWork::ExpiryVerdict::kVerifyFirst:
        if (work->goal != Goal::kVerify && work->state() != PathState::kCallOut &&
            work->state() != PathState::kRecording) {
          work->goal = Goal::kVerify;
          work->task.reset();
          paths_.SetState(*work, PathState::kQueued);
          MakeReady(*work);
        }
        break;
    }
  }
  ExpireNow(drop);
  if (due->size() == kExpireChunk && !drop.empty()) next_expire_check_ = now;  // more are due
}

void Reconciler::ExpireNow(const std::vector<uint64_t>& seqs) {
  if (seqs.empty()) return;
  board_.Recording(seqs);
  Result<std::vector<SpooledIntent>> expired = spool_->ExpireIntents(seqs);
  if (!expired.ok()) {
    log_->error("cannot drop expired intents: {}", expired.status().ToString());
    return;  // they stay due: tried again at the next check
  }
  std::vector<std::pair<uint64_t, Outcome>> outcomes;
  for (const SpooledIntent& r : *expired) {
    outcomes.emplace_back(r.seq, Outcome::kExpired);
    log_->warn("dropped intent {} ({} {}): its TTL ran out before it could be applied", r.seq, OpName(r.intent.op),
               r.intent.path);
    RegistrarEvent event;
    event.kind = RegistrarEvent::Kind::kExpired;
    event.seq = r.seq;
    event.path = r.intent.path;
    Emit(std::move(event));
    if (PathWork* work = paths_.Find(r.intent.path)) DropFromPath(*work, r.seq);
  }
  board_.Publish(outcomes);
  std::lock_guard lock(mu_);
  stats_.expired += expired->size();
}

void Reconciler::DropFromPath(PathWork& work, uint64_t seq) {
  auto pos = std::lower_bound(work.seqs.begin(), work.seqs.end(), seq);
  if (pos == work.seqs.end() || *pos != seq) return;
  const bool was_target = std::next(pos) == work.seqs.end();
  work.seqs.erase(pos);
  if (work.in_doubt && work.in_doubt->seq == seq) work.in_doubt.reset();
  const PathState state = work.state();
  if (state == PathState::kCallOut || state == PathState::kRecording) {
    paths_.Recount(work);
    return;  // the call's outcome (or its recording) decides what comes next
  }
  if (work.seqs.empty() && work.goal != Goal::kReassert) {
    paths_.Erase(work);
    return;
  }
  if (was_target) RetargetToLatest(work);
  paths_.Recount(work);
}

// The target was dropped: the latest intent before it is what the path should hold now, and it
// is tried at once (whatever held the dropped one back).
void Reconciler::RetargetToLatest(PathWork& work) {
  Result<SpooledIntent> latest = spool_->GetPending(work.seqs.back());
  if (!latest.ok()) {
    log_->error("cannot read intent {} of {}: {}", work.seqs.back(), work.path(), latest.status().ToString());
    return;
  }
  ResolveKeepMode(latest->intent, work.mode_source ? &*work.mode_source : nullptr);
  work.target = std::move(latest).value();
  work.goal = Goal::kApply;
  work.task.reset();
  paths_.SetState(work, PathState::kQueued);
  MakeReady(work);
}

}  // namespace zkspool
