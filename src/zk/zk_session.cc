#include "zk/zk_session.h"

#include <cstring>

#include "zk/client_log.h"

namespace zkspool {
namespace {
constexpr int kHostResolutionWindowMs = 10'000;
}  // namespace

ZkSession::ZkSession(std::string hosts, int timeout_ms, std::string digest_auth, std::function<void()> wake)
    : hosts_(std::move(hosts)), timeout_ms_(timeout_ms), digest_auth_(std::move(digest_auth)), wake_(std::move(wake)) {}

ZkSession::~ZkSession() { Close(); }

void ZkSession::Watcher(zhandle_t*, int type, int state, const char* path, void* context) {
  auto* self = static_cast<ZkSession*>(context);
  std::lock_guard lock(self->mu_);
  if (self->abandoned_) return;
  self->events_.push_back({type, state, path ? path : ""});
  self->wake_();
}

Status ZkSession::Start(const std::optional<SessionInfo>& resume) {
  clientid_t id{};
  const clientid_t* resume_id = nullptr;
  if (resume && resume->password.size() == sizeof id.passwd) {
    id.client_id = resume->id;
    std::memcpy(id.passwd, resume->password.data(), sizeof id.passwd);
    resume_id = &id;
  }
  {
    std::lock_guard lock(mu_);
    events_.clear();  // whatever the previous handle said no longer applies
  }
  zh_ = zookeeper_init2(hosts_.c_str(), &ZkSession::Watcher, timeout_ms_, resume_id, this, 0, ClientLogCallback());
  if (zh_ == nullptr) {
    return Status::InvalidArgument("the ZooKeeper client refused hosts \"" + hosts_ + "\": " + std::strerror(errno));
  }
  // By default the client resolves the hosts again each time it polls its socket: a
  // getaddrinfo (a netlink round trip) per completion, which took a tenth of our CPU in a drain.
  // A change in DNS is still seen within the window, and a lost connection resolves at once.
  zoo_set_servers_resolution_delay(zh_, kHostResolutionWindowMs);
  if (!digest_auth_.empty()) {
    // Queued by the client and re-sent on every reconnect; a wrong password only shows as ZNOAUTH.
    zoo_add_auth(zh_, "digest", digest_auth_.data(), static_cast<int>(digest_auth_.size()), nullptr, nullptr);
  }
  return Status::Ok();
}

void ZkSession::Close() {
  if (zh_ == nullptr) return;
  zookeeper_close(zh_);
  zh_ = nullptr;
}

void ZkSession::Abandon() {
  std::lock_guard lock(mu_);
  abandoned_ = true;
  zh_ = nullptr;
}

SessionInfo ZkSession::client_id() const {
  SessionInfo info;
  if (zh_ == nullptr) return info;
  const clientid_t* id = zoo_client_id(zh_);
  info.id = id->client_id;
  info.password.assign(id->passwd, sizeof id->passwd);
  return info;
}

int ZkSession::negotiated_timeout_ms() const { return zh_ ? zoo_recv_timeout(zh_) : timeout_ms_; }

std::vector<ZkEvent> ZkSession::TakeEvents() {
  std::lock_guard lock(mu_);
  std::vector<ZkEvent> out;
  out.swap(events_);
  return out;
}

}  // namespace zkspool
