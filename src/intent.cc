#include "zkspool/intent.h"

namespace zkspool {

const char* OpName(Op op) {
  switch (op) {
    case Op::kPut: return "put";
    case Op::kDelete: return "delete";
  }
  return "unknown";
}

const char* NodeModeName(NodeMode m) {
  switch (m) {
    case NodeMode::kEphemeral: return "ephemeral";
    case NodeMode::kPersistent: return "persistent";
    case NodeMode::kContainer: return "container";
    case NodeMode::kPersistentWithTtl: return "persistent-ttl";
  }
  return "unknown";
}

const char* AclChoiceName(AclChoice a) {
  switch (a) {
    case AclChoice::kOpen: return "open";
    case AclChoice::kCreatorAll: return "creator-all";
    case AclChoice::kCreatorAllWorldRead: return "creator-all-world-read";
  }
  return "unknown";
}

void ResolveKeepMode(Intent& intent, const Intent* previous_put) {
  if (!intent.keep_mode) return;
  if (previous_put != nullptr && previous_put->op == Op::kPut) {
    intent.mode = previous_put->mode;
    intent.node_ttl_ms = previous_put->node_ttl_ms;
  }
  intent.keep_mode = false;
}

}  // namespace zkspool
