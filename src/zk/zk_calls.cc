#include "zk/zk_calls.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace zkspool {

// One call's memory: a single op uses path, data and (for kReplace) the three ops; a multi of
// creates uses the vectors.
struct CallContext {
  CallContext(uint64_t t, CompletionMailbox* m) : token(t), mailbox(m) { mailbox->Track(this); }
  uint64_t token;
  CompletionMailbox* mailbox;
  std::string path;
  std::string data;
  zoo_op_t ops[3];
  zoo_op_result_t results[3];
  char created_path[16];
  std::vector<std::string> paths;  // a multi of creates
  std::vector<std::string> datas;
  std::vector<zoo_op_t> multi_ops;
  std::vector<zoo_op_result_t> multi_results;
  std::vector<std::array<char, 16>> created_paths;
};

CompletionMailbox::~CompletionMailbox() { FreeUnanswered(); }

void CompletionMailbox::Track(CallContext* call) {
  std::lock_guard lock(mu_);
  live_.insert(call);
}

void CompletionMailbox::Complete(CallContext* call, Completion completion) {
  std::lock_guard lock(mu_);
  live_.erase(call);
  delete call;
  if (target_ != nullptr) target_->Deliver(std::move(completion));
}

void CompletionMailbox::Discard(CallContext* call) {
  std::lock_guard lock(mu_);
  live_.erase(call);
  delete call;
}

void CompletionMailbox::Detach() {
  std::lock_guard lock(mu_);
  target_ = nullptr;
}

void CompletionMailbox::FreeUnanswered() {
  std::lock_guard lock(mu_);
  for (CallContext* call : live_) delete call;
  live_.clear();
}

size_t CompletionMailbox::unanswered() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

namespace {

CallContext* Ctx(const void* data) { return static_cast<CallContext*>(const_cast<void*>(data)); }

void Finish(CallContext* call, int rc, const NodeState* node = nullptr) {
  Completion c;
  c.token = call->token;
  c.rc = rc;
  if (node) c.node = *node;
  call->mailbox->Complete(call, std::move(c));
}

void OnString(int rc, const char*, const void* data) { Finish(Ctx(data), rc); }
void OnStat(int rc, const Stat*, const void* data) { Finish(Ctx(data), rc); }
void OnVoid(int rc, const void* data) { Finish(Ctx(data), rc); }
void OnData(int rc, const char* value, int value_len, const Stat* stat, const void* data) {
  NodeState node;
  if (rc == ZOK && stat != nullptr) {
    node.ephemeral_owner = stat->ephemeralOwner;
    node.version = stat->version;
    if (value != nullptr && value_len > 0) node.data.assign(value, value_len);
  }
  Finish(Ctx(data), rc, &node);
}
void IgnoreSync(int, const char*, const void*) {}

// A failed multi answers every op: the one that failed it with its error, the others with
// ZRUNTIMEINCONSISTENCY (rolled back) or ZOK (not reached).
void OnBatch(int rc, const void* data) {
  CallContext* call = Ctx(data);
  Completion c;
  c.token = call->token;
  c.rc = rc;
  if (rc != ZOK) {
    for (size_t i = 0; i < call->multi_results.size(); ++i) {
      int err = call->multi_results[i].err;
      if (err != ZOK && err != ZRUNTIMEINCONSISTENCY) {
        c.failed_op = static_cast<int>(i);
        c.failed_op_rc = err;
        break;
      }
    }
  }
  call->mailbox->Complete(call, std::move(c));
}

ACL_vector* CreatorAllWorldReadAcl() {
  static ACL entries[] = {{ZOO_PERM_ALL, ZOO_AUTH_IDS}, {ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}};
  static ACL_vector acl = {2, entries};
  return &acl;
}

}  // namespace

ACL_vector* AclOf(const Intent& desired) {
  switch (desired.acl) {
    case AclChoice::kCreatorAll: return &ZOO_CREATOR_ALL_ACL;
    case AclChoice::kCreatorAllWorldRead: return CreatorAllWorldReadAcl();
    case AclChoice::kOpen: break;
  }
  return &ZOO_OPEN_ACL_UNSAFE;
}

namespace {

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

int IssueStep(zhandle_t* zh, const Step& step, const Intent& desired, uint64_t token, CompletionMailbox* mailbox) {
  auto call = std::make_unique<CallContext>(token, mailbox);
  call->path = step.path;
  call->data = desired.data;
  CallContext* raw = call.get();
  const char* path = raw->path.c_str();
  const int data_len = static_cast<int>(raw->data.size());
  int rc = ZBADARGUMENTS;
  switch (step.kind) {
    case StepKind::kCreate:
      if (desired.mode == NodeMode::kPersistentWithTtl) {
        rc = zoo_acreate_ttl(zh, path, raw->data.data(), data_len, AclOf(desired), CreateFlags(desired.mode),
                             desired.node_ttl_ms, OnString, raw);
      } else {
        rc = zoo_acreate(zh, path, raw->data.data(), data_len, AclOf(desired), CreateFlags(desired.mode), OnString,
                         raw);
      }
      break;
    case StepKind::kCreateParent:
      rc = zoo_acreate(zh, path, nullptr, -1, AclOf(desired), ZOO_PERSISTENT, OnString, raw);
      break;
    case StepKind::kRead:
      rc = zoo_aget(zh, path, step.watch ? 1 : 0, OnData, raw);
      break;
    case StepKind::kSetData:
      rc = zoo_aset(zh, path, raw->data.data(), data_len, step.version, OnStat, raw);
      break;
    case StepKind::kReplace:
      zoo_check_op_init(&raw->ops[0], path, step.version);
      zoo_delete_op_init(&raw->ops[1], path, step.version);
      zoo_create_op_init(&raw->ops[2], path, raw->data.data(), data_len, AclOf(desired), CreateFlags(desired.mode),
                         raw->created_path, sizeof raw->created_path);
      rc = SafeMulti(zh, 3, raw->ops, raw->results, OnVoid, raw);
      break;
    case StepKind::kDelete:
      rc = zoo_adelete(zh, path, step.version, OnVoid, raw);
      break;
    default:
      break;
  }
  // The completion frees it now (or the mailbox, if it never comes); a refused call has none.
  if (rc == ZOK) {
    call.release();
  } else {
    mailbox->Discard(call.release());
  }
  return rc;
}

int IssueSync(zhandle_t* zh) { return zoo_async(zh, "/", IgnoreSync, nullptr); }

int IssueCreateBatch(zhandle_t* zh, const std::vector<const Intent*>& creates, uint64_t token,
                     CompletionMailbox* mailbox) {
  auto call = std::make_unique<CallContext>(token, mailbox);
  const size_t n = creates.size();
  call->paths.reserve(n);  // the ops point into these: no reallocation after the first push
  call->datas.reserve(n);
  call->multi_ops.resize(n);
  call->multi_results.resize(n);
  call->created_paths.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Intent& desired = *creates[i];
    call->paths.push_back(desired.path);
    call->datas.push_back(desired.data);
    zoo_create_op_init(&call->multi_ops[i], call->paths.back().c_str(), call->datas.back().data(),
                       static_cast<int>(call->datas.back().size()), AclOf(desired), CreateFlags(desired.mode),
                       call->created_paths[i].data(), static_cast<int>(call->created_paths[i].size()));
  }
  int rc = SafeMulti(zh, static_cast<int>(n), call->multi_ops.data(), call->multi_results.data(), OnBatch, call.get());
  if (rc == ZOK) {
    call.release();
  } else {
    mailbox->Discard(call.release());
  }
  return rc;
}

void WatchNode(zhandle_t* zh, const std::string& path) {
  zoo_aexists(zh, path.c_str(), 1, [](int, const Stat*, const void*) {}, nullptr);
}

}  // namespace zkspool
