#include "zk_client.h"

#include <cerrno>
#include <cstring>

namespace zkspoolctl {

std::unique_ptr<ZkClient> ZkClient::Connect(const std::string& hosts, std::chrono::milliseconds timeout,
                                            std::string& error) {
  // The C client's own log lines (every refused connection) would bury the tool's one-line
  // answer; failures are reported by the tool instead.
  zoo_set_debug_level(static_cast<ZooLogLevel>(0));
  std::unique_ptr<ZkClient> client(new ZkClient());
  const int session_timeout_ms = static_cast<int>(std::max<int64_t>(timeout.count(), 4000));
  client->zh_ = zookeeper_init(hosts.c_str(), &ZkClient::OnEvent, session_timeout_ms, nullptr, client.get(), 0);
  if (client->zh_ == nullptr) {
    error = "cannot start a ZooKeeper client for '" + hosts + "': " + std::strerror(errno) +
            " (a host name that does not resolve?)";
    return nullptr;
  }
  std::unique_lock lock(client->mu_);
  if (!client->cv_.wait_for(lock, timeout, [&] { return client->connected_; })) {
    error = "cannot connect to ZooKeeper at " + hosts + " within " + std::to_string(timeout.count()) + " ms";
    lock.unlock();
    return nullptr;  // the destructor closes the handle
  }
  return client;
}

ZkClient::~ZkClient() {
  if (zh_ != nullptr) zookeeper_close(zh_);
}

void ZkClient::OnEvent(zhandle_t*, int type, int state, const char*, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* self = static_cast<ZkClient*>(context);
  std::lock_guard lock(self->mu_);
  self->connected_ = state == ZOO_CONNECTED_STATE;
  self->cv_.notify_all();
}

void ZkClient::Sync() {
  // zoo_async only exists asynchronously; requests on one connection are answered in order, so
  // the next synchronous read waits for it.
  zoo_async(zh_, "/", [](int, const char*, const void*) {}, nullptr);
}

int ZkClient::Get(const std::string& path, ZkNode& node) {
  std::string buffer(1 << 20, '\0');  // jute.maxbuffer: no node holds more
  int len = static_cast<int>(buffer.size());
  Stat stat;
  int rc = zoo_get(zh_, path.c_str(), 0, buffer.data(), &len, &stat);
  if (rc != ZOK) return rc;
  node.data.assign(buffer.data(), len > 0 ? len : 0);
  node.ephemeral_owner = stat.ephemeralOwner;
  return ZOK;
}

int ZkClient::Children(const std::string& path, std::vector<std::string>& children) {
  String_vector names{};
  int rc = zoo_get_children(zh_, path.c_str(), 0, &names);
  if (rc != ZOK) return rc;
  for (int i = 0; i < names.count; ++i) children.emplace_back(names.data[i]);
  deallocate_String_vector(&names);
  return ZOK;
}

}  // namespace zkspoolctl
