// The agent's control API end to end, against real ZooKeeper servers: health through a quorum
// loss, register/deregister reaching ZooKeeper, hostile requests, the Unix socket with
// zkspoolctl, retry-failed.
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "agent_fixture.h"
#include "run_tool.h"

namespace zkspool {
namespace {

using testing::AgentFixture;
using testing::AgentProcess;
using testing::Eventually;
using testing::json;
using testing::RunTool;
using testing::ZkProbe;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;  // 0: no answer
  json body;
  std::string text;
};

class AgentHttpTest : public AgentFixture {
 protected:
  explicit AgentHttpTest(int members = 1) : AgentFixture(members) {}

  // Starts a connected agent serving HTTP on a free loopback port.
  std::unique_ptr<AgentProcess> StartWithHttp(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--http", "127.0.0.1:0"});
    auto agent = StartConnected(extra);
    auto ready = EventNamed(*agent, "ready");
    EXPECT_TRUE(ready && ready->contains("http")) << agent->StderrTail();
    std::string address = ready ? ready->value("http", "") : "";
    port_ = std::stoi(address.substr(address.rfind(':') + 1));
    return agent;
  }
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(20, 0);
    httplib::Result r = method == "POST" ? client.Post(path.c_str(), body, "application/json")
                        : method == "GET" ? client.Get(path.c_str())
                                          : client.Delete(path.c_str());
    Reply reply;
    if (!r) return reply;
    reply.status = r->status;
    reply.text = r->body;
    reply.body = json::parse(r->body, nullptr, false);
    return reply;
  }
  // Sends `raw` on a fresh connection and returns what comes back before the agent closes it
  // (or 20 s pass).
  std::string Raw(const std::string& raw) {
    int fd = Connect();
    timeval timeout{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string answer;
    if (fd >= 0 && ::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return answer;
  }
  // A TCP connection to the API; -1 (and a test failure) if it cannot be made.
  int Connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
    ADD_FAILURE() << "cannot connect to the API: " << std::strerror(errno);
    ::close(fd);
    return -1;
  }
  bool Healthy() { return Call("GET", "/v1/health").status == 200; }

  int port_ = 0;
};

class AgentHttpEnsembleTest : public AgentHttpTest {
 protected:
  AgentHttpEnsembleTest() : AgentHttpTest(3) {}
};

TEST_F(AgentHttpEnsembleTest, HealthIs503WhileTheQuorumIsLostAnd200WhenItReturns) {
  auto agent = StartWithHttp();
  ASSERT_TRUE(Eventually([&] { return Healthy(); }, 30s)) << Call("GET", "/v1/health").text;
  Reply healthy = Call("GET", "/v1/health");
  EXPECT_EQ(healthy.body["healthy"], true) << healthy.text;
  EXPECT_EQ(healthy.body["session_state"], "connected");

  const int leader = zk_->Leader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  zk_->Kill(leader);
  zk_->Kill(follower);
  ASSERT_TRUE(Eventually([&] { return Call("GET", "/v1/health").status == 503; }, 30s))
      << Call("GET", "/v1/health").text;
  Reply down = Call("GET", "/v1/health");
  EXPECT_EQ(down.body["healthy"], false);
  EXPECT_NE(down.body["reason"].get<std::string>().find("the ZooKeeper session is"), std::string::npos) << down.text;
  // Spooling never waits for ZooKeeper: a registration is acknowledged during the outage.
  Reply spooled = Call("POST", "/v1/register", R"({"path":"/outage/a","data":"x"})");
  EXPECT_EQ(spooled.status, 200) << spooled.text;

  zk_->Restart(leader);
  zk_->Restart(follower);
  ASSERT_TRUE(zk_->WaitForQuorum(60s));
  ASSERT_TRUE(Eventually([&] { return Healthy(); }, 60s)) << Call("GET", "/v1/health").text;
  ZkProbe probe(zk_->ConnectString());
  EXPECT_TRUE(Eventually([&] { return probe.Get("/outage/a").has_value(); }, 30s));
  EXPECT_TRUE(agent->Running());
}

TEST_F(AgentHttpTest, RegisterAndDeregisterOverHttpReachZooKeeper) {
  auto agent = StartWithHttp();
  ZkProbe probe(zk_->ConnectString());
  Reply r = Call("POST", "/v1/register", R"({"path":"/http/web/h1","data":"10.0.0.1:80","id":"r1"})");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["event"], "spooled");
  EXPECT_EQ(r.body["id"], "r1");
  EXPECT_EQ(r.body["path"], "/http/web/h1");
  const uint64_t seq = r.body["seq"];
  ASSERT_TRUE(WaitApplied(*agent, seq)) << agent->StderrTail();
  auto node = probe.Get("/http/web/h1");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->data, "10.0.0.1:80");
  EXPECT_NE(node->ephemeral_owner, 0);
  // The reply went to stdout too, before the applied event (the stdin protocol's order).
  bool spooled_first = false;
  for (const json& e : agent->events()) {
    if (e.value("event", "") == "spooled" && e.value("seq", uint64_t{0}) == seq) spooled_first = true;
    if (e.value("event", "") == "applied" && e.value("seq", uint64_t{0}) == seq) break;
  }
  EXPECT_TRUE(spooled_first);

  Reply registrations = Call("GET", "/v1/registrations");
  ASSERT_EQ(registrations.status, 200) << registrations.text;
  ASSERT_EQ(registrations.body["registrations"].size(), 1u) << registrations.text;
  EXPECT_EQ(registrations.body["registrations"][0]["data"], "10.0.0.1:80");
  EXPECT_TRUE(registrations.body["next_after"].is_null());
  Reply status = Call("GET", "/v1/status");
  EXPECT_EQ(status.body["registered"], 1) << status.text;
  EXPECT_EQ(status.body["session_state"], "connected");
  Reply metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.text.find("zkspool_registered_nodes 1\n"), std::string::npos) << metrics.text;
  EXPECT_NE(metrics.text.find("zkspool_build_info{version=\""), std::string::npos) << metrics.text;

  Reply d = Call("POST", "/v1/deregister", R"({"path":"/http/web/h1"})");
  ASSERT_EQ(d.status, 200) << d.text;
  ASSERT_TRUE(WaitApplied(*agent, d.body["seq"])) << agent->StderrTail();
  EXPECT_FALSE(probe.Get("/http/web/h1"));

  // Pages: the pending set while the server is frozen, two at a time.
  zk_->Freeze(0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("POST", "/v1/register", json{{"path", "/http/p" + std::to_string(i)}}.dump()).status, 200);
  }
  Reply page = Call("GET", "/v1/pending?limit=2");
  ASSERT_EQ(page.status, 200) << page.text;
  ASSERT_EQ(page.body["pending"].size(), 2u) << page.text;
  Reply rest = Call("GET", "/v1/pending?limit=2&from_seq=" + std::to_string(page.body["next_from_seq"].get<uint64_t>()));
  ASSERT_EQ(rest.body["pending"].size(), 1u) << rest.text;
  EXPECT_EQ(rest.body["pending"][0]["path"], "/http/p2");
  EXPECT_TRUE(rest.body["next_from_seq"].is_null());
  zk_->Thaw(0);
}

// A page of 1,000 entries of nearly 1 MiB each would be a 1 GiB reply: a page ends once its
// paths and data reach HttpApi::kMaxPageBytes (16 MiB), read 16 entries at a time, and the cursor
// continues from there without losing or repeating an entry.
TEST_F(AgentHttpTest, PagesOfLargeEntriesEndAtTheByteBound) {
  auto agent = StartWithHttp();
  zk_->Freeze(0);  // so that they stay pending
  constexpr int kEntries = 40;
  const std::string data(900'000, 'd');
  for (int i = 0; i < kEntries; ++i) {
    json body = {{"path", fmt::format("/big/n{:02}", i)}, {"data", data}};
    ASSERT_EQ(Call("POST", "/v1/register", body.dump()).status, 200);
  }
  std::vector<std::string> paths;
  Reply first = Call("GET", "/v1/pending?limit=1000");
  ASSERT_EQ(first.status, 200) << first.text.substr(0, 200);
  const size_t first_size = first.body["pending"].size();
  EXPECT_EQ(first_size, 32u) << "two reads of 16 pass 16 MiB";
  EXPECT_LT(first.text.size(), size_t{32} << 20);
  ASSERT_TRUE(first.body["next_from_seq"].is_number());
  Reply rest = Call("GET", "/v1/pending?limit=1000&from_seq=" + std::to_string(first.body["next_from_seq"].get<uint64_t>()));
  ASSERT_EQ(rest.status, 200) << rest.text.substr(0, 200);
  EXPECT_TRUE(rest.body["next_from_seq"].is_null());
  for (const Reply* page : {&first, &rest}) {
    for (const json& e : page->body["pending"]) paths.push_back(e["path"]);
  }
  ASSERT_EQ(paths.size(), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) EXPECT_EQ(paths[i], fmt::format("/big/n{:02}", i));
  zk_->Thaw(0);
}

TEST_F(AgentHttpTest, HostileRequestsGet4xxAndTheAgentKeepsServing) {
  auto agent = StartWithHttp();
  struct Case {
    std::string method, path, body;
    int status;
    std::string message_part;
  };
  const std::string deep = R"({"path":)" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
  const std::string huge = R"({"path":"/x","data":")" + std::string(5 << 20, 'a') + R"("})";
  const std::string large_data = R"({"path":"/x","data":")" + std::string(2 << 20, 'a') + R"("})";
  const std::vector<Case> cases = {
      {"POST", "/v1/register", "nonsense", 400, "not valid JSON"},
      {"POST", "/v1/register", "[1,2]", 400, "JSON object"},
      {"POST", "/v1/register", deep, 400, "deeper than"},
      {"POST", "/v1/register", huge, 413, "larger than"},
      {"POST", "/v1/register", large_data, 400, "longer than 2097152 bytes"},  // the request's own bound
      {"POST", "/v1/register", R"({"op":"deregister","path":"/x"})", 400, "\"op\""},
      {"POST", "/v1/register", R"({"path":"no-slash"})", 400, "path"},
      {"POST", "/v1/register", R"({"path":"/x","mode":"sometimes"})", 400, "mode \"sometimes\""},
      {"POST", "/v1/register", R"({"data":"x"})", 400, "\"path\" is missing"},
      {"POST", "/v1/deregister", R"({"path":7})", 400, "must be a string"},
      {"GET", "/v1/nope", "", 404, "no such endpoint"},
      {"DELETE", "/v1/register", "", 405, "/v1/register takes POST, not DELETE"},
      {"POST", "/v1/status", "{}", 405, "/v1/status takes GET, not POST"},
      {"POST", "/v1/register", R"({"path":"/dup/a","data":"x","path":"/dup/b"})", 400, "twice"},
      {"POST", "/v1/register", R"({ "path":"/x", "op":"register"})", 400, "\"op\""},
      {"GET", "/v1/pending?limit=abc", "", 400, "limit"},
      {"GET", "/v1/registrations?limit=100000", "", 400, "limit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body.substr(0, 60));
    Reply r = Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << r.text;
    EXPECT_EQ(r.body.value("event", ""), "error") << r.text;
    EXPECT_NE(r.body.value("message", "").find(c.message_part), std::string::npos) << r.text;
  }
  // The body reaches the stdin protocol's parser as sent: a 30-digit id comes back digit for digit.
  Reply with_id = Call("POST", "/v1/deregister", R"({"id":123456789012345678901234567890,"path":"/id/x"})");
  EXPECT_EQ(with_id.status, 200) << with_id.text;
  EXPECT_NE(with_id.text.find(R"("id":123456789012345678901234567890)"), std::string::npos) << with_id.text;
  // Broken HTTP: a garbage request line, oversized headers, a POST without a length.
  EXPECT_NE(Raw("HELLO\r\n\r\n").find(" 400 "), std::string::npos);
  EXPECT_NE(Raw("GET /v1/health HTTP/1.1\r\nX: " + std::string(100'000, 'x') + "\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
  const std::string no_length = Raw("POST /v1/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(no_length.find(" 400 "), std::string::npos) << no_length;
  // A chunked body is refused before a byte of it is read (cpp-httplib bounds only a
  // Content-Length), and so is a form-encoded one above the library's 8 KiB, with a message
  // that says what to send instead.
  const std::string chunked = Raw("POST /v1/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                  std::string("100000\r\n") + std::string(4096, 'a'));
  EXPECT_NE(chunked.find(" 411 "), std::string::npos) << chunked.substr(0, 300);
  EXPECT_NE(chunked.find("chunked body is not accepted"), std::string::npos) << chunked.substr(0, 300);
  const std::string form_body = R"({"path":"/form","data":")" + std::string(10'000, 'a') + R"("})";
  const std::string form = Raw("POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                               "Content-Length: " + std::to_string(form_body.size()) + "\r\n\r\n" + form_body);
  EXPECT_NE(form.find(" 413 "), std::string::npos) << form.substr(0, 300);
  EXPECT_NE(form.find("Content-Type: application/json"), std::string::npos) << form.substr(0, 300);
  // Idle connections that never send a request hold a worker each until their read times out;
  // more of them than workers, and many short ones, do not stop the agent from answering.
  std::vector<int> idle;
  for (size_t i = 0; i < 4 + 1; ++i) idle.push_back(Connect());  // one more than the workers
  for (int i = 0; i < 200; ++i) ::close(Connect());
  Reply after = Call("GET", "/v1/health");
  EXPECT_EQ(after.status, 200) << after.text;
  for (int fd : idle) ::close(fd);

  EXPECT_TRUE(agent->Running());
  Reply ok = Call("POST", "/v1/register", R"({"path":"/after/hostile","data":"x"})");
  ASSERT_EQ(ok.status, 200) << ok.text;
  EXPECT_TRUE(WaitApplied(*agent, ok.body["seq"]));
  // Nothing that was refused reached the spool: the deregister above and the last registration
  // were the only intents spooled.
  EXPECT_EQ(ok.body["seq"].get<uint64_t>(), with_id.body["seq"].get<uint64_t>() + 1) << ok.text;
  Reply status = Call("GET", "/v1/status");
  EXPECT_EQ(status.body["registered"], 1) << status.text;
  EXPECT_EQ(status.body["next_seq"], ok.body["seq"].get<uint64_t>() + 1) << status.text;
}

TEST_F(AgentHttpTest, UnixSocketWithMode0660ServesZkspoolctlAgentUpToLeave) {
  const std::string socket = dir_.Sub("api.sock");
  auto agent = StartConnected({"--http", "unix:" + socket});
  struct stat st;
  ASSERT_EQ(::stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660);
  const std::string http = "unix:" + socket;
  // A second agent (another spool) pointed at the same socket must not take it over.
  auto second = StartAgent({"--spool", dir_.Sub("second-spool"), "--http", http});
  std::optional<int> second_exit = second->WaitExit(20s);
  ASSERT_TRUE(second_exit.has_value()) << second->StderrTail();
  EXPECT_NE(*second_exit, 0);
  EXPECT_NE(second->StderrTail().find("another process is serving"), std::string::npos) << second->StderrTail();
  ASSERT_EQ(::stat(socket.c_str(), &st), 0) << "the first agent's socket is still there";

  auto status = RunTool({"agent", "--http", http, "status"});
  ASSERT_EQ(status.exit, 0) << status.err;
  EXPECT_EQ(json::parse(status.out)["session_state"], "connected") << status.out;
  auto registered = RunTool({"agent", "--http", http, "register", "/unix/a", "--data", "x", "--mode", "persistent"});
  ASSERT_EQ(registered.exit, 0) << registered.err << registered.out;
  ZkProbe probe(zk_->ConnectString());
  EXPECT_TRUE(Eventually([&] { return probe.Get("/unix/a").has_value(); }, 20s));
  auto refused = RunTool({"agent", "--http", http, "register", "/unix/b", "--mode", "sometimes"});
  EXPECT_EQ(refused.exit, 1) << refused.out;
  auto health = RunTool({"agent", "--http", http, "health"});
  EXPECT_EQ(health.exit, 0) << health.out;
  auto nobody = RunTool({"agent", "--http", "unix:" + dir_.Sub("nobody.sock"), "status"});
  EXPECT_EQ(nobody.exit, 5);
  EXPECT_NE(nobody.err.find("cannot reach the agent"), std::string::npos) << nobody.err;
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"agent", "--http", "127.0.0.1:70000", "status"},
                                              {"agent", "--http", "127.0.0.1:22abc", "status"},
                                              {"agent", "--http", http, "--timeout-ms", "0", "status"}}) {
    auto run = RunTool(bad);
    EXPECT_EQ(run.exit, 2) << bad[2] << " " << bad[3] << ": " << run.err;
  }

  // Leaving over the API: the reply comes back before the agent ends its session and exits.
  auto leave = RunTool({"agent", "--http", http, "leave"});
  EXPECT_EQ(leave.exit, 0) << leave.err;
  EXPECT_EQ(json::parse(leave.out)["event"], "leaving") << leave.out;
  auto closed = agent->WaitForEvent("closed", 30s);
  ASSERT_TRUE(closed) << agent->StderrTail();
  EXPECT_EQ((*closed)["session"], "ended");
  EXPECT_EQ(agent->WaitExit(30s), 0) << agent->StderrTail();
  EXPECT_FALSE(std::filesystem::exists(socket)) << "the socket file outlived the agent";
}

// A registration parked as failed makes the agent unhealthy until it is retried (once the cause
// is gone) or superseded by a later intent of its path.
TEST_F(AgentHttpTest, RetryFailedAppliesAFixedIntentAndNeverRevivesASupersededOne) {
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Create("/perm", ""), ZOK);
  ASSERT_EQ(probe.Create("/perm/eph", "", ZOO_EPHEMERAL), ZOK);  // ephemeral nodes cannot have children
  auto agent = StartWithHttp();
  Reply fixed = Call("POST", "/v1/register", R"({"path":"/perm/eph/child","data":"1"})");
  Reply moot = Call("POST", "/v1/register", R"({"path":"/perm/eph/moot","data":"1"})");
  ASSERT_EQ(fixed.status, 200);
  ASSERT_EQ(moot.status, 200);
  ASSERT_TRUE(Eventually([&] { return Call("GET", "/v1/status").body.value("failed_in_spool", 0) == 2; }, 30s))
      << Call("GET", "/v1/status").text;
  Reply unhealthy = Call("GET", "/v1/health");
  EXPECT_EQ(unhealthy.status, 503);
  EXPECT_NE(unhealthy.text.find("parked as failed"), std::string::npos) << unhealthy.text;
  Reply failed = Call("GET", "/v1/failed");
  ASSERT_EQ(failed.body["failed"].size(), 2u) << failed.text;
  EXPECT_NE(failed.body["failed"][0]["reason"].get<std::string>().find("ephemeral"), std::string::npos) << failed.text;

  // A later deregistration of one path is applied (nothing to delete): its failed put is moot.
  Reply gone = Call("POST", "/v1/deregister", R"({"path":"/perm/eph/moot"})");
  ASSERT_EQ(gone.status, 200);
  ASSERT_TRUE(WaitApplied(*agent, gone.body["seq"]));
  EXPECT_TRUE(Eventually([&] { return Call("GET", "/v1/status").body.value("failed_in_spool", 0) == 1; }, 10s))
      << Call("GET", "/v1/status").text;

  ASSERT_EQ(probe.Delete("/perm/eph"), ZOK);  // the operator fixes the cause
  Reply retried = Call("POST", "/v1/retry-failed", "{}");
  ASSERT_EQ(retried.status, 200) << retried.text;
  EXPECT_EQ(retried.body["retried"], 1);
  EXPECT_EQ(retried.body["superseded"], 0);
  EXPECT_TRUE(Eventually([&] { return probe.Get("/perm/eph/child").has_value(); }, 20s));
  EXPECT_TRUE(Eventually([&] { return Healthy(); }, 20s)) << Call("GET", "/v1/health").text;
  EXPECT_FALSE(probe.Get("/perm/eph/moot")) << "a superseded failed intent came back";
}

}  // namespace
}  // namespace zkspool
