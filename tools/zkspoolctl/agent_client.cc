#include "agent_client.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace zkspoolctl {
namespace {

// cpp-httplib 0.11 connects only over TCP; its client speaks HTTP over any socket it is given.
class UnixClient : public httplib::ClientImpl {
 public:
  explicit UnixClient(std::string path) : httplib::ClientImpl("localhost"), path_(std::move(path)) {}

 protected:
  bool create_and_connect_socket(Socket& socket, httplib::Error& error) override {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.data(), std::min(path_.size(), sizeof sa.sun_path - 1));
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      if (fd >= 0) ::close(fd);
      error = httplib::Error::Connection;
      return false;
    }
    socket.sock = fd;
    return true;
  }

 private:
  std::string path_;
};

}  // namespace

zkspool::Result<AgentReply> CallAgent(const std::string& address, const std::string& method, const std::string& path,
                                      const std::string& body, int timeout_ms) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (address.starts_with("unix:")) {
    if (address.size() == 5 || address.size() - 5 >= sizeof(sockaddr_un{}.sun_path)) {
      return zkspool::Status::InvalidArgument("--http " + address + ": the Unix socket path is empty or too long");
    }
    client = std::make_unique<UnixClient>(address.substr(5));
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
      return zkspool::Status::InvalidArgument("--http " + address + ": give HOST:PORT or unix:PATH");
    }
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = 0;
    const char* end = address.data() + address.size();
    auto [last, ec] = std::from_chars(address.data() + colon + 1, end, port);
    if (ec != std::errc() || last != end || port < 1 || port > 65535) {
      return zkspool::Status::InvalidArgument("--http " + address + ": the port must be a number from 1 to 65535");
    }
    client = std::make_unique<httplib::ClientImpl>(host, port);
  }
  const time_t sec = timeout_ms / 1000;
  const time_t usec = (timeout_ms % 1000) * 1000;
  client->set_connection_timeout(sec, usec);
  client->set_read_timeout(sec, usec);
  client->set_write_timeout(sec, usec);
  httplib::Result result = method == "POST" ? client->Post(path.c_str(), body, "application/json")
                                            : client->Get(path.c_str());
  if (!result) {
    return zkspool::Status::IOError("cannot reach the agent at " + address + " (" + httplib::to_string(result.error()) +
                                    " error): is it running with --http " + address + "?");
  }
  return AgentReply{result->status, result->body};
}

}  // namespace zkspoolctl
