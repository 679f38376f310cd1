#include "reply_dropping_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace zkspool::testing {

struct ReplyDroppingProxy::Link {
  int client = -1;
  int server = -1;
  std::atomic<bool> drop_replies{false};
  ~Link() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

namespace {

int ConnectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

}  // namespace

ReplyDroppingProxy::ReplyDroppingProxy(int server_port) : server_port_(server_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("the proxy cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

ReplyDroppingProxy::~ReplyDroppingProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mu_);
    for (auto& link : links_) {
      ::shutdown(link->client, SHUT_RDWR);
      ::shutdown(link->server, SHUT_RDWR);
    }
  }
  for (std::thread& t : threads_) t.join();
}

void ReplyDroppingProxy::DropRepliesOfOpenConnections() {
  std::lock_guard lock(mu_);
  for (auto& link : links_) link->drop_replies = true;
}

void ReplyDroppingProxy::Accept() {
  for (;;) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0 || stopping_) {
      if (client >= 0) ::close(client);
      return;
    }
    auto link = std::make_shared<Link>();
    link->client = client;
    link->server = ConnectTo(server_port_);
    std::lock_guard lock(mu_);
    links_.push_back(link);
    threads_.emplace_back([this, link] { Pump(link); });
  }
}

void ReplyDroppingProxy::Pump(std::shared_ptr<Link> link) {
  if (link->server < 0) return;
  char buffer[64 * 1024];
  pollfd fds[2] = {{link->client, POLLIN, 0}, {link->server, POLLIN, 0}};
  while (!stopping_) {
    if (::poll(fds, 2, 100) < 0) return;
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::shutdown(link->client, SHUT_RDWR);
        ::shutdown(link->server, SHUT_RDWR);
        return;
      }
      const bool reply = i == 1;
      if (reply && link->drop_replies) continue;
      int to = reply ? link->client : link->server;
      for (ssize_t sent = 0; sent < n;) {
        ssize_t w = ::write(to, buffer + sent, n - sent);
        if (w <= 0) return;
        sent += w;
      }
    }
  }
}

}  // namespace zkspool::testing
