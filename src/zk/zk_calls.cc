#include "zk/zk_calls.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace zkspool {
namespace {

// Everything a call needs to outlive its submission, freed by its completion.
struct CallContext {
  uint64_t token;
  CompletionSink* sink;
  std::string path;
  std::string data;
  zoo_op_t ops[3];
  zoo_op_result_t results[3];
  char created_path[16];
};

void Finish(CallContext* call, int rc, const NodeState* node = nullptr) {
  std::unique_ptr<CallContext> owned(call);
  Completion c;
  c.token = call->token;
  c.rc = rc;
  if (node) c.node = *node;
  call->sink->Deliver(std::move(c));
}

void OnString(int rc, const char*, const void* data) { Finish(static_cast<CallContext*>(const_cast<void*>(data)), rc); }
void OnStat(int rc, const Stat*, const void* data) { Finish(static_cast<CallContext*>(const_cast<void*>(data)), rc); }
void OnVoid(int rc, const void* data) { Finish(static_cast<CallContext*>(const_cast<void*>(data)), rc); }
void OnData(int rc, const char* value, int value_len, const Stat* stat, const void* data) {
  NodeState node;
  if (rc == ZOK && stat != nullptr) {
    node.ephemeral_owner = stat->ephemeralOwner;
    node.version = stat->version;
    if (value != nullptr && value_len > 0) node.data.assign(value, value_len);
  }
  Finish(static_cast<CallContext*>(const_cast<void*>(data)), rc, &node);
}
void IgnoreSync(int, const char*, const void*) {}

struct BatchContext {
  uint64_t token;
  CompletionSink* sink;
  std::vector<std::string> paths;
  std::vector<zoo_op_t> ops;
  std::vector<zoo_op_result_t> results;
  std::vector<std::array<char, 16>> created_paths;
};

void OnBatch(int rc, const void* data) {
  std::unique_ptr<BatchContext> batch(static_cast<BatchContext*>(const_cast<void*>(data)));
  Completion c;
  c.token = batch->token;
  c.rc = rc;
  batch->sink->Deliver(std::move(c));
}

ACL_vector* CreatorAllWorldReadAcl() {
  static ACL entries[] = {{ZOO_PERM_ALL, ZOO_AUTH_IDS}, {ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}};
  static ACL_vector acl = {2, entries};
  return &acl;
}

ACL_vector* AclFor(const Intent& desired) {
  switch (desired.acl) {
    case AclChoice::kCreatorAll: return &ZOO_CREATOR_ALL_ACL;
    case AclChoice::kCreatorAllWorldRead: return CreatorAllWorldReadAcl();
    case AclChoice::kOpen: break;
  }
  return &ZOO_OPEN_ACL_UNSAFE;
}

// zoo_amulti (3.8.0) on a handle that has turned unrecoverable (session expired, auth failed)
// frees memory it does not own: the first op's request init fails, the later ops' request
// structs are never initialised, and free_duplicate_path() frees whatever they hold - the
// previous op's path, i.e. our buffer ("free(): invalid size", found by the chaos run). A handle
// only turns unrecoverable in a reconnect handshake after its connection dropped, so a multi
// sent while it is CONNECTED meets that state only if this thread stalls between the check and
// the call for a whole disconnect and reconnect; otherwise it waits for the next connection.
// Closing that window would take a patched client.
int SafeMulti(zhandle_t* zh, int count, const zoo_op_t* ops, zoo_op_result_t* results, void_completion_t done,
              const void* data) {
  if (count > 1 && zoo_state(zh) != ZOO_CONNECTED_STATE) return ZCONNECTIONLOSS;
  return zoo_amulti(zh, count, ops, results, done, data);
}

int CreateFlags(NodeMode mode) {
  switch (mode) {
    case NodeMode::kEphemeral: return ZOO_EPHEMERAL;
    case NodeMode::kPersistent: return ZOO_PERSISTENT;
    case NodeMode::kContainer: return ZOO_CONTAINER;
    case NodeMode::kPersistentWithTtl: return ZOO_PERSISTENT_WITH_TTL;
  }
  return ZOO_PERSISTENT;
}

}  // namespace

int IssueStep(zhandle_t* zh, const Step& step, const Intent& desired, uint64_t token, CompletionSink* sink) {
  auto call = std::make_unique<CallContext>();
  call->token = token;
  call->sink = sink;
  call->path = step.path;
  call->data = desired.data;
  CallContext* raw = call.get();
  const char* path = raw->path.c_str();
  const int data_len = static_cast<int>(raw->data.size());
  int rc = ZBADARGUMENTS;
  switch (step.kind) {
    case StepKind::kCreate:
      if (desired.mode == NodeMode::kPersistentWithTtl) {
        rc = zoo_acreate_ttl(zh, path, raw->data.data(), data_len, AclFor(desired), CreateFlags(desired.mode),
                             desired.node_ttl_ms, OnString, raw);
      } else {
        rc = zoo_acreate(zh, path, raw->data.data(), data_len, AclFor(desired), CreateFlags(desired.mode), OnString,
                         raw);
      }
      break;
    case StepKind::kCreateParent:
      rc = zoo_acreate(zh, path, nullptr, -1, AclFor(desired), ZOO_PERSISTENT, OnString, raw);
      break;
    case StepKind::kRead:
      // The sync makes the server we talk to catch up with the leader first, so a lagging
      // follower cannot show us a node of a session that is already gone.
      rc = zoo_async(zh, path, IgnoreSync, nullptr);
      if (rc == ZOK) rc = zoo_aget(zh, path, 1, OnData, raw);
      break;
    case StepKind::kSetData:
      rc = zoo_aset(zh, path, raw->data.data(), data_len, step.version, OnStat, raw);
      break;
    case StepKind::kReplace:
      zoo_check_op_init(&raw->ops[0], path, step.version);
      zoo_delete_op_init(&raw->ops[1], path, step.version);
      zoo_create_op_init(&raw->ops[2], path, raw->data.data(), data_len, AclFor(desired), CreateFlags(desired.mode),
                         raw->created_path, sizeof raw->created_path);
      rc = SafeMulti(zh, 3, raw->ops, raw->results, OnVoid, raw);
      break;
    case StepKind::kDelete:
      rc = zoo_adelete(zh, path, step.version, OnVoid, raw);
      break;
    default:
      break;
  }
  if (rc == ZOK) call.release();  // the completion owns it now
  return rc;
}

int IssueCreateBatch(zhandle_t* zh, const std::vector<const Intent*>& creates, uint64_t token, CompletionSink* sink) {
  auto batch = std::make_unique<BatchContext>();
  batch->token = token;
  batch->sink = sink;
  const size_t n = creates.size();
  batch->paths.reserve(n);
  batch->ops.resize(n);
  batch->results.resize(n);
  batch->created_paths.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Intent& desired = *creates[i];
    batch->paths.push_back(desired.path);
    // The data is referenced, not copied, by the op: it lives in the caller's task until the
    // completion, which the reconciler guarantees by keeping the task while the call is out.
    zoo_create_op_init(&batch->ops[i], batch->paths.back().c_str(), desired.data.data(),
                       static_cast<int>(desired.data.size()), AclFor(desired), CreateFlags(desired.mode),
                       batch->created_paths[i].data(), static_cast<int>(batch->created_paths[i].size()));
  }
  int rc = SafeMulti(zh, static_cast<int>(n), batch->ops.data(), batch->results.data(), OnBatch, batch.get());
  if (rc == ZOK) batch.release();
  return rc;
}

void WatchNode(zhandle_t* zh, const std::string& path) {
  zoo_aexists(zh, path.c_str(), 1, [](int, const Stat*, const void*) {}, nullptr);
}

}  // namespace zkspool
