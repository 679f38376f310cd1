#include "reconciler/outcome_recorder.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

namespace zkspool {

OutcomeRecorder::OutcomeRecorder(std::shared_ptr<Spool> spool, std::shared_ptr<spdlog::logger> log,
                                 std::function<void()> on_done)
    : spool_(std::move(spool)), log_(std::move(log)), on_done_(std::move(on_done)), thread_([this] { Run(); }) {}

OutcomeRecorder::~OutcomeRecorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

void OutcomeRecorder::Submit(Batch batch) {
  std::lock_guard lock(mu_);
  todo_ = std::move(batch);
  cv_.notify_all();
}

bool OutcomeRecorder::Busy() const {
  std::lock_guard lock(mu_);
  return todo_.has_value() || done_.has_value();
}

std::optional<OutcomeRecorder::Batch> OutcomeRecorder::TakeDone() {
  std::lock_guard lock(mu_);
  return std::exchange(done_, std::nullopt);
}

void OutcomeRecorder::WaitIdle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !todo_; });
}

void OutcomeRecorder::Run() {
  pthread_setname_np(pthread_self(), "zkspool-record");
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || todo_; });
    if (!todo_) return;  // stopping, nothing in hand
    // Written outside the lock, so Busy and TakeDone never wait for the disk; the batch stays
    // in todo_ (only this thread touches it meanwhile) until it moves to done_.
    Batch& batch = *todo_;
    lock.unlock();
    Write(batch);
    lock.lock();
    done_ = std::move(todo_);
    todo_.reset();
    cv_.notify_all();
    lock.unlock();
    on_done_();
    lock.lock();
  }
}

void OutcomeRecorder::Write(Batch& batch) {
  batch.applied_done.assign(batch.applied.size(), false);
  batch.failed_done.assign(batch.failed.size(), false);
  if (!batch.applied.empty()) {
    Status s = spool_->MarkApplied(batch.applied);
    if (s.code() == StatusCode::kNotFound) {
      // Only the reconciler removes intents, so this is a bug or an outside hand; one record
      // must not hold up the rest forever: each is recorded alone, and one whose intents are
      // gone counts as recorded.
      log_->error("recording applied intents: {}; recording them one path at a time", s.ToString());
      for (size_t k = 0; k < batch.applied.size() && batch.failure.ok(); ++k) {
        Status one = spool_->MarkApplied(std::span(&batch.applied[k], 1));
        if (one.ok() || one.code() == StatusCode::kNotFound) {
          batch.applied_done[k] = true;
        } else {
          batch.failure = one;
        }
      }
    } else if (s.ok()) {
      batch.applied_done.assign(batch.applied.size(), true);
    } else {
      batch.failure = s;
    }
  }
  for (size_t k = 0; k < batch.failed.size() && batch.failure.ok(); ++k) {
    Status s = spool_->MarkFailed(batch.failed[k].seqs, batch.failed[k].reason);
    if (s.ok() || s.code() == StatusCode::kNotFound) {
      batch.failed_done[k] = true;
    } else {
      batch.failure = s;
    }
  }
}

}  // namespace zkspool
