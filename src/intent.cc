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

}  // namespace zkspool
