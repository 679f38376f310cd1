// The agent's control API: HTTP/1.1 (cpp-httplib, Debian's libcpp-httplib-dev) on a TCP address
// or a Unix socket. docs/agent.md lists the endpoints; requests carry the stdin protocol's JSON
// objects and get its replies.
//
// No client can exhaust the agent through it: bodies, JSON nesting, pages, connections and the
// time a connection may take are bounded (the constants below), and the API runs on threads of
// its own that hold no lock the agent's other work waits for.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "control_target.h"
#include "zkspool/status.h"

namespace zkspool::agent {

struct HttpApiOptions {
  std::string address;         // "HOST:PORT" (port 0: any free one) or "unix:PATH"
  std::string metrics_labels;  // for GET /metrics
  std::chrono::milliseconds health_max_pending_age{30'000};
};

class HttpApi {
 public:
  static constexpr size_t kMaxBodyBytes = 4 << 20;  // a request carrying the largest node data fits
  static constexpr int kMaxJsonDepth = 16;          // requests are flat objects
  static constexpr size_t kMaxPageSize = 10'000;    // entries per GET of a set (default 1000)
  static constexpr size_t kMaxPageBytes = 16 << 20; // a page ends once its paths and data reach this
  static constexpr size_t kPageChunk = 16;          // entries read from the spool at once for a page
  static constexpr size_t kWorkers = 4;             // connections served at once
  static constexpr size_t kMaxWaitingConnections = 64;  // accepted, waiting for a worker
  static constexpr int kTimeoutSeconds = 5;         // for each read and write on a connection
  static constexpr int kKeepAliveSeconds = 1;       // idle between requests on one connection

  HttpApi(ControlTarget& target, HttpApiOptions options, std::shared_ptr<spdlog::logger> log);
  // Stop().
  ~HttpApi();

  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds the address and serves it on a thread of its own. A Unix socket gets mode 0660; an old
  // socket file at PATH that nobody serves is replaced; one another process serves, and any
  // other file there, are refused.
  // Errors: kInvalidArgument for a malformed address or a non-socket file at PATH, kIOError when
  // the address cannot be bound (both name it).
  Status Start();
  // Where it listens: "127.0.0.1:41234" with the port it got, or "unix:/run/zkspool-agent/api.sock".
  const std::string& address() const { return bound_; }
  // Stops accepting, lets the requests being served finish (each bounded by the timeouts) and
  // removes the Unix socket. Idempotent.
  void Stop();

 private:
  class Server;
  void Route();

  ControlTarget& target_;
  HttpApiOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<Server> server_;
  std::string bound_;
  std::string unix_path_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
};

// Checks an --http address's form (HOST:PORT with a port up to 65535, or unix:PATH of a length a
// socket address holds) without binding it, so that a bad one is refused before the spool is
// touched. Errors: kInvalidArgument naming the address and the forms it may take.
Status CheckHttpAddress(const std::string& address);

// Whether `text` nests JSON arrays and objects deeper than `max_depth` (strings are skipped).
// Checked before parsing, so a hostile body costs one pass, not a tree of millions of nodes.
bool JsonNestsDeeperThan(std::string_view text, int max_depth);

}  // namespace zkspool::agent
