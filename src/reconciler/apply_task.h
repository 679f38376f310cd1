// The idempotent apply rules for one path, as a state machine with no I/O: the reconciler runs the
// ZooKeeper call each Step names and feeds the result back. Whatever the answers, retries and
// uncertain outcomes included, the task ends in Done only when ZooKeeper holds exactly the desired
// state, and it never deletes or overwrites a node that another session owns.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "zkspool/intent.h"

namespace zkspool {

// Which sessions count as "us": the current one, and those this spool owned before.
struct Ownership {
  int64_t current_session = 0;
  std::set<int64_t> previous_sessions;

  bool IsOurs(int64_t owner) const { return owner != 0 && (owner == current_session || previous_sessions.count(owner)); }
};

// The node as an up-to-date server reports it.
struct NodeState {
  int64_t ephemeral_owner = 0;  // 0 for a persistent node
  int32_t version = 0;
  std::string data;
};

enum class StepKind {
  kCreate,        // create the desired node (with its TTL for persistent-ttl)
  kCreateParent,  // create `path`, a missing ancestor, as an empty persistent node (issued by
                  // the reconciler's pipeline for kParentMissing, never returned by a task)
  kRead,          // sync `path` (so the server is up to date), then get it: answer with OnRead
  kSetData,       // set the desired data at `version`
  kReplace,       // one multi: check `version`, delete at `version`, create the desired node
  kDelete,        // delete at `version`
  kDone,          // ZooKeeper holds the desired state; `reason` notes a foreign node a delete left
  kParentMissing, // the create found no parent: make the ancestors, then Restart
  kConflict,      // another session owns the node, or our credentials may not change it (ZNOAUTH):
                  // back off, then Restart; `reason` says which
  kFailed,        // permanent error (invalid ACL, bad argument): park the intent; `reason` says why
  kRetryLater,    // outcome unknown (connection loss, expiry): Restart once connected again
};

const char* StepKindName(StepKind kind);

// True for results after which nobody knows whether the call took effect (connection loss,
// timeout, expiry, closing): the call must be retried from a fresh read, never assumed.
bool IsUncertain(int rc);

struct Step {
  Step() = default;
  Step(StepKind k, std::string p, int32_t v = -1, std::string r = {})
      : kind(k), path(std::move(p)), version(v), reason(std::move(r)) {}

  StepKind kind = StepKind::kDone;
  std::string path;
  int32_t version = -1;
  std::string reason;
  bool watch = false;  // a kRead leaves a watch on the node (the pipeline decides, within its budget)
};

class ApplyTask {
 public:
  // `desired` is a put or a delete; `ownership` must outlive the task (the reconciler updates it
  // when the session changes). With `verify_first` a put starts by reading the node, which is
  // cheaper when it most likely exists already (re-asserting after reconnect, anti-entropy).
  ApplyTask(Intent desired, const Ownership* ownership, bool verify_first = false);

  const Intent& desired() const { return desired_; }
  // Moves the desired intent out: for a finished task that is about to be dropped.
  Intent TakeDesired() && { return std::move(desired_); }

  // The first step; also the way to start over after kConflict or kRetryLater.
  Step Restart();
  // The result code of the call named by the last step (any kind but kRead).
  Step OnResult(int rc);
  // The result of a kRead: rc, and the node when rc is ZOK.
  Step OnRead(int rc, const NodeState& node);

  // Whether the last kConflict was a persistent node where an ephemeral one is wanted. A
  // persistent node carries no owner, so only the registered set can tell that it is ours.
  bool met_persistent() const { return met_persistent_; }
  // The persistent node there is ours (the registered set says we put it): an ephemeral
  // registration replaces it atomically from now on, also after Restart.
  void OwnPersistent() { own_persistent_ = true; }

 private:
  Step Create();
  Step Read();
  Step Unexpected(int rc, const char* during);

  Intent desired_;
  const Ownership* ownership_;
  bool verify_first_;
  StepKind last_ = StepKind::kDone;
  bool create_after_delete_ = false;  // a persistent-ttl node replacing our ephemeral one
  bool met_persistent_ = false;
  bool own_persistent_ = false;
};

}  // namespace zkspool
