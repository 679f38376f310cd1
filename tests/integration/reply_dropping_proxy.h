// A TCP proxy on 127.0.0.1 in front of one ZooKeeper server that can lose the server's replies:
// requests still reach the server (which applies them), but what it answers on the connections
// open at that moment never reaches the client, so the client ends up with a connection loss for
// a write that did take effect - the uncertain outcome a real network produces now and then.
// Connections made afterwards pass everything.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace zkspool::testing {

class ReplyDroppingProxy {
 public:
  // Listens on a free port; throws std::runtime_error if it cannot.
  explicit ReplyDroppingProxy(int server_port);
  // Closes every connection and joins its threads.
  ~ReplyDroppingProxy();

  int port() const { return port_; }
  // From now on, replies on the connections open now are dropped.
  void DropRepliesOfOpenConnections();

 private:
  struct Link;
  void Accept();
  void Pump(std::shared_ptr<Link> link);

  int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::shared_ptr<Link>> links_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace zkspool::testing
