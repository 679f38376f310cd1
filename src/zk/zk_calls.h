// Issues the ZooKeeper call an ApplyTask step names, asynchronously. The completion, which runs on
// the C client's completion thread, only hands the result to a CompletionSink.
#pragma once

#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "reconciler/apply_task.h"

namespace zkspool {

struct Completion {
  uint64_t token = 0;  // identifies the call that finished
  int rc = 0;
  NodeState node;  // for reads that found the node
};

class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Called on the client's completion thread; must not block.
  virtual void Deliver(Completion completion) = 0;
};

// Forwards completions to a target that may go away first: a handle abandoned to keep its
// session alive (Registrar::CloseMode::kKeepSession) may still complete calls after its owner is
// gone; those are dropped here instead of reaching freed memory.
class CompletionMailbox : public CompletionSink {
 public:
  explicit CompletionMailbox(CompletionSink* target) : target_(target) {}
  void Deliver(Completion completion) override {
    std::lock_guard lock(mu_);
    if (target_ != nullptr) target_->Deliver(std::move(completion));
  }
  void Detach() {
    std::lock_guard lock(mu_);
    target_ = nullptr;
  }

 private:
  std::mutex mu_;
  CompletionSink* target_;
};

// Submits the call for `step` (which must not be kDone, kConflict, kFailed or kRetryLater) to
// create or change the node `desired` describes. Reads set a watch, so that the watcher hears when
// a node of ours is deleted or changed from outside. Returns the submission's rc: ZOK, or an error
// such as ZINVALIDSTATE after which no completion will come. A multi (kReplace) is refused with
// ZCONNECTIONLOSS unless the handle is connected: the C client corrupts the heap when a multi
// meets an expired handle.
int IssueStep(zhandle_t* zh, const Step& step, const Intent& desired, uint64_t token, CompletionSink* sink);

// Leaves a watch on `path` (exists), so that the watcher hears if the node we just put there is
// deleted or changed from outside. Fire and forget: the result does not matter.
void WatchNode(zhandle_t* zh, const std::string& path);

// Creates the nodes `creates` describe in one multi: one round trip and one transaction for all,
// which is what lets a backlog drain faster than one create per round trip. All are created or
// none; the completion carries the multi's rc. Persistent-ttl nodes cannot be created in a multi
// (ZUNIMPLEMENTED in 3.8), so `creates` must hold none.
int IssueCreateBatch(zhandle_t* zh, const std::vector<const Intent*>& creates, uint64_t token, CompletionSink* sink);

}  // namespace zkspool
