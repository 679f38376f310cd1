// Issues the ZooKeeper call an ApplyTask step names, asynchronously. The completion, which runs on
// the C client's completion thread, only hands the result to a CompletionSink.
#pragma once

#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "reconciler/apply_task.h"

namespace zkspool {

struct Completion {
  uint64_t token = 0;  // identifies the call that finished
  int rc = 0;
  NodeState node;      // for reads that found the node
  int failed_op = -1;  // for a failed multi: the index of the op that failed it (-1: unknown)
  int failed_op_rc = 0;
};

class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Called on the client's completion thread; must not block.
  virtual void Deliver(Completion completion) = 0;
};

// What a call needs to outlive its submission; its completion frees it.
struct CallContext;

// Where the calls of one owner complete. It forwards completions to a target that may go away
// first: a handle abandoned to keep its session alive (Registrar::CloseMode::kKeepSession) may
// still complete calls after its owner is gone; those are dropped here instead of reaching freed
// memory. It also keeps every call's context until its completion, because a closed handle does
// not always complete every call (3.8.0's zookeeper_close can drop queued completions): after
// the close, FreeUnanswered frees what would otherwise leak.
class CompletionMailbox {
 public:
  explicit CompletionMailbox(CompletionSink* target) : target_(target) {}
  ~CompletionMailbox();
  CompletionMailbox(const CompletionMailbox&) = delete;
  CompletionMailbox& operator=(const CompletionMailbox&) = delete;

  // Called by the client's completion thread with the call's context; frees it.
  void Complete(CallContext* call, Completion completion);
  // Frees the context of a call the client refused (no completion will come).
  void Discard(CallContext* call);
  void Detach();
  // Frees the contexts of calls never completed. Only once no handle can complete them any
  // more: after zookeeper_close returned for every handle that used this mailbox.
  void FreeUnanswered();
  size_t unanswered() const;

 private:
  friend struct CallContext;
  void Track(CallContext* call);

  mutable std::mutex mu_;
  CompletionSink* target_;
  std::unordered_set<CallContext*> live_;
};

// Submits the call for `step` (kCreate, kCreateParent, kRead, kSetData, kReplace or kDelete) to
// create or change the node `desired` describes. A read with step.watch leaves a watch, so that
// the watcher hears when a node of ours is deleted or changed from outside; a read needs a sync
// sent before it on the same handle (IssueSync) to be up to date. Returns the submission's rc: ZOK, or an error such as
// ZINVALIDSTATE after which no completion will come. A multi (kReplace) is refused with
// ZCONNECTIONLOSS unless the handle is connected: the C client corrupts the heap when a multi
// meets an expired handle.
int IssueStep(zhandle_t* zh, const Step& step, const Intent& desired, uint64_t token, CompletionMailbox* mailbox);

// Makes the server this handle talks to catch up with the leader, so that the reads sent after
// it on the same handle (ZooKeeper keeps one session's requests in order) cannot show a node of
// a session that is already gone (a lagging follower). Fire and forget.
int IssueSync(zhandle_t* zh);

// The ACL the nodes `desired` creates get (its AclChoice).
ACL_vector* AclOf(const Intent& desired);

// Leaves a watch on `path` (exists), so that the watcher hears if the node we just put there is
// deleted or changed from outside. Fire and forget: the result does not matter.
void WatchNode(zhandle_t* zh, const std::string& path);

// Creates the nodes `creates` describe in one multi: one round trip and one transaction for all,
// which is what lets a backlog drain faster than one create per round trip. All are created or
// none; the completion carries the multi's rc and, when it failed, which op failed it.
// Persistent-ttl nodes cannot be created in a multi (ZUNIMPLEMENTED in 3.8), so `creates` must
// hold none.
int IssueCreateBatch(zhandle_t* zh, const std::vector<const Intent*>& creates, uint64_t token,
                     CompletionMailbox* mailbox);

}  // namespace zkspool
