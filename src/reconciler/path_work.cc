#include "reconciler/path_work.h"

namespace zkspool {

const char* PathStateName(PathState state) {
  switch (state) {
    case PathState::kQueued: return "queued";
    case PathState::kCallOut: return "call-out";
    case PathState::kBackoffConflict: return "backoff-conflict";
    case PathState::kBackoffUncertain: return "backoff-uncertain";
    case PathState::kWaitingParent: return "waiting-parent";
    case PathState::kRecording: return "recording";
  }
  return "unknown";
}

bool PathWork::HoldsWindow() const {
  switch (state_) {
    case PathState::kCallOut: return true;
    case PathState::kQueued:
    case PathState::kBackoffConflict:
    case PathState::kBackoffUncertain:
    case PathState::kWaitingParent:
    case PathState::kRecording: return false;
  }
  return false;
}

bool PathWork::IsActive() const {
  switch (state_) {
    case PathState::kQueued:
    case PathState::kCallOut:
    case PathState::kRecording: return true;
    case PathState::kBackoffConflict:
    case PathState::kBackoffUncertain:
    case PathState::kWaitingParent: return false;
  }
  return true;
}

bool PathWork::SupersedesAtOnce() const {
  switch (state_) {
    case PathState::kQueued:
    case PathState::kBackoffConflict:
    case PathState::kBackoffUncertain:
    case PathState::kWaitingParent: return true;
    case PathState::kCallOut:     // the call's outcome is for the old target; the new one is next
    case PathState::kRecording: return false;
  }
  return false;
}

PathWork::ExpiryVerdict PathWork::MayExpire(uint64_t seq) const {
  switch (state_) {
    case PathState::kCallOut:
      if (seq == task_seq) return ExpiryVerdict::kNo;
      break;
    case PathState::kRecording:
      if (seq <= task_seq) return ExpiryVerdict::kNo;
      break;
    case PathState::kQueued:
    case PathState::kBackoffConflict:
    case PathState::kBackoffUncertain:
    case PathState::kWaitingParent: break;
  }
  if (in_doubt && in_doubt->seq == seq) return ExpiryVerdict::kVerifyFirst;
  return ExpiryVerdict::kDrop;
}

}  // namespace zkspool
