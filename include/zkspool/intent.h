// What the spool stores: an intent to make one ZooKeeper path exist with given data (put) or not
// exist (delete).
#pragma once

#include <cstdint>
#include <string>

namespace zkspool {

enum class Op : uint8_t {
  kPut = 1,     // register or update: the node should exist with this data and mode
  kDelete = 2,  // deregister: the node should not exist
};

// The kind of ZooKeeper node a put creates. Sequential modes are deliberately absent: a node
// whose name the server picks cannot be re-created idempotently.
enum class NodeMode : uint8_t {
  kEphemeral = 0,          // lives as long as the session; re-created on a new session
  kPersistent = 1,
  kContainer = 2,          // removed by the server once its last child is gone
  kPersistentWithTtl = 3,  // removed by the server after node_ttl_ms without changes or children
};

// The ACL given to nodes this intent creates.
enum class AclChoice : uint8_t {
  kOpen = 0,        // world:anyone, all permissions (ZOO_OPEN_ACL_UNSAFE)
  kCreatorAll = 1,  // only the authenticated creator (ZOO_CREATOR_ALL_ACL); needs digest auth
  // The authenticated creator may do anything, everyone may read: what a service registry
  // wants (clients discover, nobody else changes or deletes). Needs digest auth.
  kCreatorAllWorldRead = 2,
};

const char* OpName(Op op);              // "put", "delete"
const char* NodeModeName(NodeMode m);   // "ephemeral", "persistent", "container", "persistent-ttl"
const char* AclChoiceName(AclChoice a); // "open", "creator-all", "creator-all-world-read"

struct Intent {
  Op op = Op::kPut;
  std::string path;  // absolute ZooKeeper path, e.g. "/services/web/host-1"
  std::string data;  // node data; empty for a delete
  NodeMode mode = NodeMode::kEphemeral;
  // A put that keeps the path's mode (Registrar::Update without a mode): the mode and node_ttl_ms
  // of the latest put spooled before it for the path (pending or registered) are used, and
  // `mode` only when there is none. The reconciler resolves it and records the resolved node.
  bool keep_mode = false;
  AclChoice acl = AclChoice::kOpen;
  int64_t node_ttl_ms = 0;     // server-side TTL; only with kPersistentWithTtl, else 0
  int64_t enqueued_at_ms = 0;  // set by Spool::Append: Unix time in milliseconds
  int64_t expires_at_ms = 0;   // set by Spool::Append from its ttl argument; 0 = never expires

  bool operator==(const Intent&) const = default;
};

// True once the intent's spool TTL has run out at `now_ms`: it must then never be applied.
inline bool IsExpired(const Intent& intent, int64_t now_ms) {
  return intent.expires_at_ms != 0 && intent.expires_at_ms <= now_ms;
}

// Turns a keep_mode put into a plain one: it takes the mode and node_ttl_ms of `previous_put`
// (the latest put spooled before it for the same path, or its registered node; null or a
// delete when there is none, which leaves its own mode). Does nothing to other intents.
void ResolveKeepMode(Intent& intent, const Intent* previous_put);

// An intent together with the sequence number the spool gave it.
struct SpooledIntent {
  uint64_t seq = 0;
  Intent intent;

  bool operator==(const SpooledIntent&) const = default;
};

}  // namespace zkspool
