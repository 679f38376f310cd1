#include "reconciler/apply_task.h"

#include <zookeeper/zookeeper.h>

#include "zkspool/session_id.h"

namespace zkspool {

// The client's own errors about the connection are answers from no server: ZRUNTIMEINCONSISTENCY
// ("a server response came out of order") and ZDATAINCONSISTENCY come with a session that is
// ending, for calls the server may have applied. Taken as failures, they parked acknowledged
// intents (the chaos run of 2026-12-02, seed 761857869, round 98: an update lost).
bool IsUncertain(int rc) {
  return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED || rc == ZSESSIONMOVED ||
         rc == ZCLOSING || rc == ZINVALIDSTATE || rc == ZTHROTTLEDOP || rc == ZNOTREADONLY || rc == ZNOTHING ||
         rc == ZSYSTEMERROR || rc == ZMARSHALLINGERROR || rc == ZRUNTIMEINCONSISTENCY || rc == ZDATAINCONSISTENCY;
}

namespace {

bool WantsEphemeral(const Intent& i) { return i.mode == NodeMode::kEphemeral; }

}  // namespace

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kCreate: return "create";
    case StepKind::kCreateParent: return "create-parent";
    case StepKind::kRead: return "read";
    case StepKind::kSetData: return "set-data";
    case StepKind::kReplace: return "replace";
    case StepKind::kDelete: return "delete";
    case StepKind::kDone: return "done";
    case StepKind::kParentMissing: return "parent-missing";
    case StepKind::kConflict: return "conflict";
    case StepKind::kFailed: return "failed";
    case StepKind::kRetryLater: return "retry-later";
  }
  return "unknown";
}

ApplyTask::ApplyTask(Intent desired, const Ownership* ownership, bool verify_first)
    : desired_(std::move(desired)), ownership_(ownership), verify_first_(verify_first) {}

Step ApplyTask::Restart() {
  create_after_delete_ = false;
  if (desired_.op == Op::kDelete || verify_first_) return Read();
  return Create();
}

Step ApplyTask::Create() {
  last_ = StepKind::kCreate;
  return {StepKind::kCreate, desired_.path};
}

Step ApplyTask::Read() {
  last_ = StepKind::kRead;
  return {StepKind::kRead, desired_.path};
}

Step ApplyTask::Unexpected(int rc, const char* during) {
  if (IsUncertain(rc)) {
    last_ = StepKind::kRetryLater;
    return {StepKind::kRetryLater, desired_.path, -1, std::string(during) + ": " + zerror(rc)};
  }
  std::string reason = std::string(during) + " of " + desired_.path + " failed: " + zerror(rc);
  if (rc == ZNOAUTH) {
    // Fixed by the right credentials or an ACL change, not by dropping the intent: wait like a
    // conflict, visible in Stats, and apply once allowed.
    last_ = StepKind::kConflict;
    return {StepKind::kConflict, desired_.path, -1,
            reason + " (not authorized: check the digest credentials and the ACL of the node or its parent)"};
  }
  if (rc == ZINVALIDACL) reason += " (a creator-only ACL needs digest auth)";
  if (rc == ZUNIMPLEMENTED) reason += " (TTL nodes need the server's zookeeper.extendedTypesEnabled=true)";
  if (rc == ZNOCHILDRENFOREPHEMERALS) reason += " (a parent is an ephemeral node)";
  if (rc == ZNOTEMPTY) reason += " (the node has children)";
  last_ = StepKind::kFailed;
  return {StepKind::kFailed, desired_.path, -1, reason};
}

Step ApplyTask::OnResult(int rc) {
  switch (last_) {
    case StepKind::kCreate:
      if (rc == ZOK) return {StepKind::kDone, desired_.path};
      if (rc == ZNODEEXISTS) return Read();
      if (rc == ZNONODE) return {StepKind::kParentMissing, desired_.path};
      return Unexpected(rc, "create");
    case StepKind::kSetData:
      if (rc == ZOK) return {StepKind::kDone, desired_.path};
      if (rc == ZBADVERSION) return Read();
      if (rc == ZNONODE) return Create();
      return Unexpected(rc, "set data");
    case StepKind::kReplace:
      if (rc == ZOK) return {StepKind::kDone, desired_.path};
      if (rc == ZBADVERSION || rc == ZNONODE || rc == ZNODEEXISTS) return Read();
      return Unexpected(rc, "replace");
    case StepKind::kDelete:
      if (create_after_delete_ && (rc == ZOK || rc == ZNONODE)) return Create();
      if (rc == ZOK || rc == ZNONODE) return {StepKind::kDone, desired_.path};
      if (rc == ZBADVERSION) return Read();
      return Unexpected(rc, "delete");
    default:  // a result for a call this task did not make now: start over, never fail on it
      last_ = StepKind::kRetryLater;
      return {StepKind::kRetryLater, desired_.path, -1, "unexpected result"};
  }
}

Step ApplyTask::OnRead(int rc, const NodeState& node) {
  if (last_ != StepKind::kRead) {
    last_ = StepKind::kRetryLater;
    return {StepKind::kRetryLater, desired_.path, -1, "unexpected result"};
  }
  if (rc == ZNONODE) return desired_.op == Op::kDelete ? Step{StepKind::kDone, desired_.path} : Create();
  if (rc != ZOK) return Unexpected(rc, "read");

  const int64_t owner = node.ephemeral_owner;
  const bool ours = ownership_->IsOurs(owner);
  const bool current = owner != 0 && owner == ownership_->current_session;
  if (owner != 0 && !ours && desired_.op == Op::kDelete) {  // nothing of ours is there to delete
    return {StepKind::kDone, desired_.path, -1,
            desired_.path + " is an ephemeral node of session " + FormatSessionId(owner) +
                ", which is not ours: left alone, nothing of ours was there to delete"};
  }
  if (owner != 0 && !ours) {
    last_ = StepKind::kConflict;
    return {StepKind::kConflict, desired_.path, -1,
            desired_.path + " is an ephemeral node of session " + FormatSessionId(owner) + ", which is not ours"};
  }
  if (desired_.op == Op::kDelete) {
    last_ = StepKind::kDelete;
    return {StepKind::kDelete, desired_.path, node.version};
  }
  if (WantsEphemeral(desired_)) {
    if (owner == 0 && !own_persistent_) {
      met_persistent_ = true;
      last_ = StepKind::kConflict;
      return {StepKind::kConflict, desired_.path, -1,
              desired_.path + " is a persistent node; an ephemeral registration does not replace it"};
    }
    if (!current) {  // ours, of a session that is gone or persistent: replace it atomically
      last_ = StepKind::kReplace;
      return {StepKind::kReplace, desired_.path, node.version};
    }
  } else if (owner != 0) {  // our ephemeral node, but a persistent kind is wanted now
    if (desired_.mode == NodeMode::kPersistentWithTtl) {  // multi cannot carry a TTL create
      create_after_delete_ = true;
      last_ = StepKind::kDelete;
      return {StepKind::kDelete, desired_.path, node.version};
    }
    last_ = StepKind::kReplace;
    return {StepKind::kReplace, desired_.path, node.version};
  }
  if (node.data == desired_.data) return {StepKind::kDone, desired_.path};
  last_ = StepKind::kSetData;
  return {StepKind::kSetData, desired_.path, node.version};
}

}  // namespace zkspool
