// A plain ZooKeeper client for tests to look at (and meddle with) what the registrar did, with
// no zkspool code in between.
#pragma once

#include <zookeeper/zookeeper.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

namespace zkspool::testing {

struct ProbeNode {
  std::string data;
  int64_t ephemeral_owner = 0;
  int32_t version = 0;
};

class ZkProbe {
 public:
  // Connects and waits until connected; throws std::runtime_error after `timeout`.
  explicit ZkProbe(const std::string& hosts, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                   int session_timeout_ms = 10000);
  ~ZkProbe();  // ends the session

  // The node as the leader sees it (sync first), or empty if it does not exist. Throws on errors.
  std::optional<ProbeNode> Get(const std::string& path);
  std::vector<std::string> Children(const std::string& path);  // empty if the node does not exist
  // Returns the ZooKeeper rc.
  int Create(const std::string& path, const std::string& data, int flags = ZOO_PERSISTENT);
  int Delete(const std::string& path);
  // Sets a watch on `path`; DeletedEvents() then counts ZOO_DELETED_EVENTs seen for it.
  void Watch(const std::string& path);
  int DeletedEvents() const;
  int64_t session_id() const;
  zhandle_t* handle() const { return zh_; }

 private:
  static void OnEvent(zhandle_t*, int type, int state, const char* path, void* context);
  zhandle_t* zh_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false;
  int deleted_events_ = 0;
};

// The ZooKeeper session a spool saved (id, 16-byte password), read while its owner runs: the
// spool is opened as a RocksDB secondary. Throws std::runtime_error if there is none.
std::pair<int64_t, std::string> ReadSavedSession(const std::string& spool_dir);

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns its last value.
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// True if `condition` stays false for all of `period` (polled as Eventually polls it).
template <typename F>
bool NeverWithin(F condition, std::chrono::milliseconds period) {
  return !Eventually(condition, period);
}

}  // namespace zkspool::testing
