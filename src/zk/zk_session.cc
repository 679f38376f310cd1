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
  std::lock_guard publish(self->publish_mu_);
  std::lock_guard lock(self->mu_);
  if (self->abandoned_) return;
  self->events_.push_back({type, state, path ? path : ""});
  self->wake_();
}

zhandle_t* ZkSession::Init(const clientid_t* resume_id) {
  zhandle_t* zh = zookeeper_init2(hosts_.c_str(), &ZkSession::Watcher, timeout_ms_, resume_id, this, 0, ClientLogCallback());
  if (zh == nullptr) return nullptr;
  // By default the client resolves the hosts again each time it polls its socket: a
  // getaddrinfo (a netlink round trip) per completion, which took a tenth of our CPU in a drain.
  // A change in DNS is still seen within the window, and a lost connection resolves at once.
  zoo_set_servers_resolution_delay(zh, kHostResolutionWindowMs);
  if (!digest_auth_.empty()) {
    // Queued by the client and re-sent on every reconnect; a wrong password only shows as ZNOAUTH.
    zoo_add_auth(zh, "digest", digest_auth_.data(), static_cast<int>(digest_auth_.size()), nullptr, nullptr);
  }
  return zh;
}

Status ZkSession::Start(const std::optional<SessionInfo>& resume) {
  std::optional<clientid_t> id;
  if (resume && resume->password.size() == sizeof id->passwd) {
    id.emplace();
    id->client_id = resume->id;
    std::memcpy(id->passwd, resume->password.data(), sizeof id->passwd);
  }
  {
    std::lock_guard lock(mu_);
    events_.clear();  // whatever the previous handle said no longer applies
    stop_retrying_ = false;
  }
  zh_ = Init(id ? &*id : nullptr);
  if (zh_ == nullptr) {
    WarnAboutClient("cannot start a ZooKeeper client for \"" + hosts_ + "\" (" + std::strerror(errno) +
                    "): a host name does not resolve yet? Retrying every " + std::to_string(kResolveRetry.count()) +
                    " s");
    retrying_ = std::thread([this, id] { RetryUntilResolved(id); });
  }
  return Status::Ok();
}

void ZkSession::RetryUntilResolved(std::optional<clientid_t> resume_id) {
  std::unique_lock lock(mu_);
  while (!retry_wake_.wait_for(lock, kResolveRetry, [this] { return stop_retrying_; })) {
    lock.unlock();
    std::unique_lock publish(publish_mu_);  // no handle exists meanwhile: no watcher waits on it long
    zhandle_t* zh = Init(resume_id ? &*resume_id : nullptr);
    lock.lock();
    if (zh == nullptr) continue;
    if (stop_retrying_) {  // closed meanwhile: this handle was never anybody's
      lock.unlock();
      publish.unlock();
      zookeeper_close(zh);
      return;
    }
    zh_ = zh;
    WarnAboutClient("ZooKeeper client for \"" + hosts_ + "\" started: its hosts resolve now");
    return;
  }
}

void ZkSession::StopRetrying() {
  {
    std::lock_guard lock(mu_);
    stop_retrying_ = true;
  }
  retry_wake_.notify_all();
  if (retrying_.joinable()) retrying_.join();
}

void ZkSession::Close() {
  StopRetrying();
  zhandle_t* zh = zh_.exchange(nullptr);
  if (zh != nullptr) zookeeper_close(zh);
}

void ZkSession::Abandon() {
  StopRetrying();
  std::lock_guard lock(mu_);
  abandoned_ = true;
  zh_ = nullptr;
}

SessionInfo ZkSession::client_id() const {
  SessionInfo info;
  zhandle_t* zh = zh_.load();
  if (zh == nullptr) return info;
  const clientid_t* id = zoo_client_id(zh);
  info.id = id->client_id;
  info.password.assign(id->passwd, sizeof id->passwd);
  return info;
}

int ZkSession::negotiated_timeout_ms() const {
  zhandle_t* zh = zh_.load();
  return zh ? zoo_recv_timeout(zh) : timeout_ms_;
}

std::vector<ZkEvent> ZkSession::TakeEvents() {
  std::lock_guard lock(mu_);
  std::vector<ZkEvent> out;
  out.swap(events_);
  return out;
}

}  // namespace zkspool
