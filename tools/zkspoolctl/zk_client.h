// A minimal synchronous ZooKeeper client for `diff`: connect with a deadline, read nodes and
// children. Read-only by construction: it offers no call that writes.
#pragma once

#include <zookeeper/zookeeper.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace zkspoolctl {

struct ZkNode {
  std::string data;
  int64_t ephemeral_owner = 0;
};

class ZkClient {
 public:
  // Connects to `hosts` (a ZooKeeper connect string, chroot allowed) and waits until connected.
  // Returns null and sets `error` if that does not happen within `timeout`.
  static std::unique_ptr<ZkClient> Connect(const std::string& hosts, std::chrono::milliseconds timeout,
                                           std::string& error);
  ~ZkClient();  // ends the session
  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  // Makes the server this client talks to catch up with the leader, so later reads are current.
  void Sync();
  // ZOK and the node, ZNONODE, or another ZooKeeper error code.
  int Get(const std::string& path, ZkNode& node);
  // ZOK and the child names, ZNONODE, or another ZooKeeper error code.
  int Children(const std::string& path, std::vector<std::string>& children);

 private:
  ZkClient() = default;
  static void OnEvent(zhandle_t*, int type, int state, const char* path, void* context);
  zhandle_t* zh_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false;
};

}  // namespace zkspoolctl
