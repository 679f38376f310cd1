// Writes outcomes to the spool on a thread of its own, one batch at a time.
//
// Recording a multi's 500 outcomes (read the intents, write deletes and the registered set)
// took 3-12 ms on the reconciler thread, and the answer to the other multi in flight waited
// behind it, with ZooKeeper holding one multi instead of two meanwhile (a trace of
// drain_bench: 1-7 ms from an answer to the next send, against 0.1-0.3 ms for the raw loop).
// Here the reconciler hands a batch over and goes back to the pipeline; what completes
// meanwhile is the next batch, so the spool write is group-committed as before.
//
// Thread-safety: Submit, Busy, TakeDone and WaitIdle are for one thread (the reconciler's);
// `on_done` is called on the recorder's thread after each batch.
#pragma once

#include <spdlog/logger.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "zkspool/spool.h"

namespace zkspool {

class OutcomeRecorder {
 public:
  struct Failed {
    std::vector<uint64_t> seqs;
    std::string reason;
  };
  struct Batch {
    std::vector<AppliedPath> applied;  // one spool write for all of them
    std::vector<Failed> failed;        // parked one reason at a time
    // Filled in when written: which were recorded (a path whose intents are gone counts as
    // recorded: only an outside hand removes them), and why the rest were not.
    std::vector<bool> applied_done, failed_done;
    Status failure = Status::Ok();
  };

  OutcomeRecorder(std::shared_ptr<Spool> spool, std::shared_ptr<spdlog::logger> log, std::function<void()> on_done);
  // Waits for the batch in hand to be written, then stops the thread.
  ~OutcomeRecorder();
  OutcomeRecorder(const OutcomeRecorder&) = delete;
  OutcomeRecorder& operator=(const OutcomeRecorder&) = delete;

  // Hands a batch over to be written. Only when !Busy().
  void Submit(Batch batch);
  // A batch was handed over and not yet taken back with TakeDone.
  bool Busy() const;
  // The batch, once written; nullopt while it is being written or when none was handed over.
  std::optional<Batch> TakeDone();
  // Waits until the batch in hand (if any) is written.
  void WaitIdle();

 private:
  void Run();
  void Write(Batch& batch);

  const std::shared_ptr<Spool> spool_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::function<void()> on_done_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Batch> todo_, done_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace zkspool
