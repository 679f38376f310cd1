#include "http_api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>

#include "agent_metrics.h"
#include "health.h"

namespace zkspool::agent {
namespace {

using nlohmann::json;

// cpp-httplib's own pool queues accepted connections without limit. This one makes the accept
// loop wait instead, so what waits beyond kMaxWaitingConnections is the kernel's listen backlog.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t workers, size_t max_waiting) : max_waiting_(max_waiting) {
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    room_.wait(lock, [this] { return jobs_.size() < max_waiting_; });
    jobs_.push_back(std::move(fn));
    work_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) return;  // stopping, and every accepted connection was served
        job = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      job();
    }
  }

  const size_t max_waiting_;
  std::mutex mu_;
  std::condition_variable work_, room_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kSpoolFull: return 503;  // retry later: the backlog must drain first
    case StatusCode::kTimedOut: return 503;   // retry later: stdout must be read first
    default: return 500;
  }
}

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body + "\n", "application/json");
}

void SendError(httplib::Response& res, const Status& status, int http_status = 0) {
  SendJson(res, http_status != 0 ? http_status : HttpStatusFor(status.code()), ErrorEvent(nullptr, status));
}

// What cpp-httplib 0.11 (compiled into Debian's library, so not ours to raise) reads of a
// form-encoded body: CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH.
constexpr uint64_t kMaxFormBodyBytes = 8192;

bool ContentTypeIsForm(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type == "application/x-www-form-urlencoded";
}

// Whether a process accepts connections on the Unix socket at `path`: a live one's socket must
// not be taken over, only one that an agent left behind when it did not stop cleanly.
bool SomeoneListensOn(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), std::min(path.size(), sizeof sa.sun_path - 1));
  const bool listening = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return listening;
}

// The methods an endpoint takes, for a 405; nullptr for a path that is no endpoint.
const char* AllowedMethods(const std::string& path) {
  for (const char* get : {"/v1/health", "/v1/status", "/v1/registrations", "/v1/pending", "/v1/failed", "/metrics"}) {
    if (path == get) return "GET";
  }
  for (const char* post : {"/v1/register", "/v1/deregister", "/v1/retry-failed", "/v1/leave"}) {
    if (path == post) return "POST";
  }
  return nullptr;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The stdin request for POST /v1/<op>: the body's object with "op" put in front, as text. The
// body is not parsed and written out again here: ParseRequest must see it as sent, so that a key
// given twice is refused (a parsed object keeps one of them) and an id is echoed digit for digit.
// An empty body is {}.
Result<std::string> RequestLine(const std::string& body, const char* op) {
  if (JsonNestsDeeperThan(body, HttpApi::kMaxJsonDepth)) {
    return Status::InvalidArgument(fmt::format("the body nests JSON deeper than {} levels", HttpApi::kMaxJsonDepth));
  }
  const std::string head = fmt::format("{{\"op\":\"{}\"", op);
  const size_t open = body.find_first_not_of(" \t\r\n");
  if (open == std::string::npos) return head + "}";
  if (body[open] != '{') {  // json::accept validates without building a tree
    return Status::InvalidArgument(json::accept(body) ? "the body must be a JSON object" : "the body is not valid JSON");
  }
  const size_t next = body.find_first_not_of(" \t\r\n", open + 1);
  if (next != std::string::npos && body.compare(next, 5, "\"op\":") == 0) {
    return Status::InvalidArgument("the body must not have \"op\": the URL names it");
  }
  // ParseRequest refuses an "op" given later in the body as a key given twice.
  const bool empty_object = next != std::string::npos && body[next] == '}';
  return head + (empty_object ? "" : ",") + body.substr(open + 1);
}

// A non-negative integer query parameter, `fallback` when absent.
Result<uint64_t> Param(const httplib::Request& req, const char* name, uint64_t fallback) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(fmt::format("query parameter {}=\"{}\" is not a non-negative integer", name, text));
  }
  return value;
}

Result<size_t> PageSize(const httplib::Request& req) {
  Result<uint64_t> limit = Param(req, "limit", 1000);
  if (!limit.ok()) return limit.status();
  if (*limit == 0 || *limit > HttpApi::kMaxPageSize) {
    return Status::InvalidArgument(fmt::format("limit must be between 1 and {}", HttpApi::kMaxPageSize));
  }
  return static_cast<size_t>(*limit);
}

json IntentJson(const SpooledIntent& r) {
  const Intent& in = r.intent;
  json out = {{"seq", r.seq}, {"op", OpName(in.op)}, {"path", in.path}, {"data", in.data},
              {"mode", NodeModeName(in.mode)}, {"acl", AclChoiceName(in.acl)}, {"enqueued_at_ms", in.enqueued_at_ms}};
  if (in.node_ttl_ms != 0) out["node_ttl_ms"] = in.node_ttl_ms;
  out["expires_at_ms"] = in.expires_at_ms != 0 ? json(in.expires_at_ms) : json(nullptr);
  return out;
}

// Up to `limit` entries, read kPageChunk at a time, and no more once they hold kMaxPageBytes of
// paths and data: an entry may carry up to 1 MiB, and 10,000 of them would be a 10 GiB reply.
// `read(n)` gives the next n entries (it keeps its own cursor); `more` says whether the page
// stopped before the end of the set.
template <typename Read>
Result<json> FillPage(size_t limit, bool& more, Read read) {
  json entries = json::array();
  size_t bytes = 0;
  more = false;
  while (entries.size() < limit) {
    const size_t want = std::min(HttpApi::kPageChunk, limit - entries.size());
    Result<json> chunk = read(want);
    if (!chunk.ok()) return chunk.status();
    for (json& entry : *chunk) {
      bytes += entry["path"].get_ref<const std::string&>().size() + entry["data"].get_ref<const std::string&>().size();
      entries.push_back(std::move(entry));
    }
    if (chunk->size() < want) return entries;
    if (bytes >= HttpApi::kMaxPageBytes) break;
  }
  more = true;
  return entries;
}

// A page of a set kept in sequence order: `read(from_seq, n)` gives its entries, each with a
// "seq"; "next_from_seq" continues after a page that stopped before the end.
template <typename Read>
void SequencePage(const httplib::Request& req, httplib::Response& res, const char* key, Read read) {
  Result<size_t> limit = PageSize(req);
  if (!limit.ok()) return SendError(res, limit.status());
  Result<uint64_t> from = Param(req, "from_seq", 0);
  if (!from.ok()) return SendError(res, from.status());
  uint64_t cursor = *from;
  bool more = false;
  Result<json> entries = FillPage(*limit, more, [&](size_t n) -> Result<json> {
    Result<json> chunk = read(cursor, n);
    if (chunk.ok() && !chunk->empty()) cursor = chunk->back()["seq"].get<uint64_t>() + 1;
    return chunk;
  });
  if (!entries.ok()) return SendError(res, entries.status());
  json out = {{key, std::move(*entries)}, {"next_from_seq", more ? json(cursor) : json(nullptr)}};
  SendJson(res, 200, Dump(out));
}

struct Address {
  std::string host;  // empty for a Unix socket
  int port = 0;
  std::string unix_path;
};

Result<Address> ParseAddress(const std::string& text) {
  Address a;
  if (text.starts_with("unix:")) {
    a.unix_path = text.substr(5);
    if (a.unix_path.empty() || a.unix_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Status::InvalidArgument(fmt::format("--http {}: a Unix socket path must have 1 to {} bytes", text,
                                                 sizeof(sockaddr_un{}.sun_path) - 1));
    }
    return a;
  }
  size_t colon = text.rfind(':');
  unsigned port = 0;
  const char* end = text.data() + text.size();
  if (colon == std::string::npos || colon == 0 ||
      std::from_chars(text.data() + colon + 1, end, port).ptr != end || colon + 1 == text.size() || port > 65535) {
    return Status::InvalidArgument(
        fmt::format("--http {}: give HOST:PORT (e.g. 127.0.0.1:8375, [::1]:8375) or unix:PATH", text));
  }
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  a.port = static_cast<int>(port);
  return a;
}

}  // namespace

Status CheckHttpAddress(const std::string& address) { return ParseAddress(address).status(); }

bool JsonNestsDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// httplib::Server with a Unix socket: cpp-httplib 0.11 binds only TCP, but serves any listening
// socket it is given.
class HttpApi::Server : public httplib::Server {
 public:
  void Adopt(int listening_fd) { svr_sock_ = listening_fd; }
};

HttpApi::HttpApi(ControlTarget& target, HttpApiOptions options, std::shared_ptr<spdlog::logger> log)
    : target_(target), options_(std::move(options)), log_(std::move(log)) {}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::Route() {
  Server& s = *server_;
  s.Get("/v1/health", [this](const httplib::Request&, httplib::Response& res) {
    RegistrarStats stats = target_.registrar().Stats();
    Health health = CheckHealth(stats, options_.health_max_pending_age);
    SendJson(res, health.healthy ? 200 : 503, Dump(health.ToJson(stats)));
  });
  s.Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    json stats = json::parse(StatsEvent(nullptr, target_.registrar().Stats()));
    stats.erase("event");
    SendJson(res, 200, Dump(stats));
  });
  s.Get("/v1/registrations", [this](const httplib::Request& req, httplib::Response& res) {
    Result<size_t> limit = PageSize(req);
    if (!limit.ok()) return SendError(res, limit.status());
    std::string after = req.has_param("after") ? req.get_param_value("after") : "";
    bool more = false;
    Result<json> entries = FillPage(*limit, more, [&](size_t n) -> Result<json> {
      Result<std::vector<SpooledIntent>> page = target_.registrar().ReadRegistered(after, n);
      if (!page.ok()) return page.status();
      json chunk = json::array();
      for (const SpooledIntent& r : *page) chunk.push_back(IntentJson(r));
      if (!page->empty()) after = page->back().intent.path;
      return chunk;
    });
    if (!entries.ok()) return SendError(res, entries.status());
    json out = {{"registrations", std::move(*entries)}, {"next_after", more ? json(after) : json(nullptr)}};
    SendJson(res, 200, Dump(out));
  });
  s.Get("/v1/pending", [this](const httplib::Request& req, httplib::Response& res) {
    SequencePage(req, res, "pending", [this](uint64_t from, size_t limit) -> Result<json> {
      Result<std::vector<SpooledIntent>> page = target_.registrar().ReadPending(from, limit);
      if (!page.ok()) return page.status();
      json entries = json::array();
      for (const SpooledIntent& r : *page) entries.push_back(IntentJson(r));
      return entries;
    });
  });
  s.Get("/v1/failed", [this](const httplib::Request& req, httplib::Response& res) {
    SequencePage(req, res, "failed", [this](uint64_t from, size_t limit) -> Result<json> {
      Result<std::vector<FailedIntent>> page = target_.registrar().ReadFailed(from, limit);
      if (!page.ok()) return page.status();
      json entries = json::array();
      for (const FailedIntent& f : *page) {
        entries.push_back(IntentJson(f.record));
        entries.back()["reason"] = f.reason;
      }
      return entries;
    });
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderAgentMetrics(target_.registrar().Stats(), options_.metrics_labels),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  // POST /v1/<op>: the body is the stdin request `op` without "op", checked by the stdin
  // protocol's parser; `act` answers it with a status and the stdin protocol's reply.
  auto post = [&s](const char* op, std::function<std::pair<int, std::string>(const Request&)> act) {
    s.Post(std::string("/v1/") + op, [op, act](const httplib::Request& req, httplib::Response& res) {
      Result<std::string> line = RequestLine(req.body, op);
      if (!line.ok()) return SendError(res, line.status());
      RequestId id;
      Result<Request> request = ParseRequest(*line, id);
      if (!request.ok()) return SendJson(res, 400, ErrorEvent(id, request.status()));
      auto [status, body] = act(*request);
      SendJson(res, status, body);
    });
  };
  auto refused = [](const Request& request, const Status& status) {
    return std::pair(HttpStatusFor(status.code()), ErrorEvent(request.id, status));
  };
  for (const char* op : {"register", "deregister"}) {
    post(op, [this, refused](const Request& request) {
      Result<uint64_t> seq = target_.SpoolRequest(request);
      if (!seq.ok()) return refused(request, seq.status());
      return std::pair(200, SpooledEvent(request.id, *seq, request.registration.path));
    });
  }
  post("retry-failed", [this, refused](const Request& request) {
    Result<Spool::RetryReport> report = target_.RetryFailed();
    if (!report.ok()) return refused(request, report.status());
    return std::pair(200, RetriedEvent(request.id, report->retried.size(), report->superseded.size()));
  });
  // The reply is written before the agent stops: stopping the API waits for its workers.
  post("leave", [this](const Request& request) {
    target_.Leave();
    return std::pair(202, LeavingEvent(request.id));
  });
  // Before a body is read: cpp-httplib 0.11 bounds a body by its Content-Length only, so a
  // chunked one could grow without limit; and it caps a form-encoded body (what `curl -d` sends
  // unless told otherwise) at 8 KiB with a bare 413.
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    if (req.has_header("Transfer-Encoding")) {
      res.status = 411;
      message = "a POST body must come with a Content-Length; a chunked body is not accepted";
    } else if (ContentTypeIsForm(req) && req.get_header_value<uint64_t>("Content-Length") > kMaxFormBodyBytes) {
      res.status = 413;
      message = fmt::format(
          "a body sent as application/x-www-form-urlencoded may have at most {} bytes; send it with "
          "Content-Type: application/json (curl: -H 'Content-Type: application/json')",
          kMaxFormBodyBytes);
    } else {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("Connection", "close");  // the unread body must not be taken for a request
    res.set_content(ErrorEvent(nullptr, Status::InvalidArgument(message)) + "\n", "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Anything unrouted, a body over kMaxBodyBytes (413), a malformed request line (400): a JSON
  // error like every other reply, unless a handler already wrote one.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = fmt::format("HTTP {}: the request is malformed", res.status);
    const char* allowed = res.status == 404 ? AllowedMethods(req.path) : nullptr;
    if (allowed != nullptr) {
      res.status = 405;
      res.set_header("Allow", allowed);
      message = fmt::format("{} takes {}, not {}", req.path, allowed, req.method);
    } else if (res.status == 404) {
      message = fmt::format("no such endpoint: {} {}", req.method, req.path);
    } else if (res.status == 413) {
      message = fmt::format("the body is larger than {} bytes", kMaxBodyBytes);
    } else if (res.status == 400 && req.method == "POST" && !req.has_header("Content-Length") &&
               !req.has_header("Transfer-Encoding")) {
      message = "a POST needs a Content-Length header, also for an empty body (curl: -d '')";
    }
    res.set_content(ErrorEvent(nullptr, Status::InvalidArgument(message)) + "\n", "application/json");
  });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_->error("HTTP {} {}: {}", req.method, req.path, what);
    SendError(res, Status::IOError("internal error: " + what), 500);
  });
}

Status HttpApi::Start() {
  Result<Address> address = ParseAddress(options_.address);
  if (!address.ok()) return address.status();
  server_ = std::make_unique<Server>();
  Server& s = *server_;
  s.new_task_queue = [] { return new BoundedPool(kWorkers, kMaxWaitingConnections); };
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_read_timeout(kTimeoutSeconds, 0);
  s.set_write_timeout(kTimeoutSeconds, 0);
  // An idle kept-alive connection holds its worker, and stopping waits for the workers.
  s.set_keep_alive_timeout(kKeepAliveSeconds);
  Route();
  if (address->unix_path.empty()) {
    errno = 0;  // a failed name lookup sets none: the message must not name a stale one
    int port = address->port == 0 ? s.bind_to_any_port(address->host) : (s.bind_to_port(address->host, address->port)
                                                                          ? address->port : -1);
    if (port < 0) {
      return Status::IOError(fmt::format("--http {}: cannot listen there: {}", options_.address,
                                         errno != 0 ? std::strerror(errno) : "the host name does not resolve"));
    }
    bound_ = address->host.find(':') != std::string::npos ? fmt::format("[{}]:{}", address->host, port)
                                                          : fmt::format("{}:{}", address->host, port);
  } else {
    const std::string& path = address->unix_path;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Status::InvalidArgument(fmt::format("--http {}: {} exists and is not a socket", options_.address, path));
      }
      if (SomeoneListensOn(path)) {
        return Status::IOError(fmt::format("--http {}: another process is serving {}", options_.address, path));
      }
      ::unlink(path.c_str());  // a socket left by an agent that did not stop cleanly
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    // Mode before listen(): nobody can connect to a socket that is not listening yet.
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::chmod(path.c_str(), 0660) != 0 ||
        ::listen(fd, 64) != 0) {
      Status error = Status::IOError(fmt::format("--http {}: cannot listen there: {}", options_.address, std::strerror(errno)));
      if (fd >= 0) ::close(fd);
      return error;
    }
    s.Adopt(fd);
    unix_path_ = path;
    bound_ = options_.address;
  }
  thread_ = std::thread([this] {
    if (!server_->listen_after_bind()) log_->error("the control API on {} stopped accepting", bound_);
    listen_returned_ = true;
  });
  // Until the loop runs, httplib's stop() does nothing and the loop would then run for good.
  while (!server_->is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log_->info("control API on http {}", bound_);
  return Status::Ok();
}

void HttpApi::Stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  server_.reset();
}

}  // namespace zkspool::agent
