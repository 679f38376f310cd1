// Self-test of the ZooKeeper harness against real servers: if these pass, the failures
// other integration tests inject (kill, freeze, quorum loss, session expiry) are real.
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>  // sync API: ZooKeeperMt::zookeeper_mt defines THREADED

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/zk_ensemble.h"

namespace {

using zkspool::testing::EnsembleOptions;
using zkspool::testing::MntrValue;
using zkspool::testing::ZkEnsemble;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

long long MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// Records a timing both in the gtest XML and on stdout, where ctest -V shows it.
void Timing(const std::string& what, long long ms) {
  ::testing::Test::RecordProperty(what, std::to_string(ms));
  std::printf("[timing] %s: %lld ms\n", what.c_str(), ms);
}

// Polls `condition` until it holds or `timeout` passes; the last evaluation decides.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

std::string ModeOf(const std::string& srvr) {
  const std::string key = "Mode: ";
  size_t pos = srvr.find(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  return srvr.substr(pos, srvr.find('\n', pos) - pos);
}

std::string Logs(const ZkEnsemble& zk) {
  std::string out;
  for (int i = 0; i < zk.size(); ++i) {
    out += "--- member " + std::to_string(i) + " srvr: [" + zk.Srvr(i) + "]\n" + zk.LogTail(i, 25);
  }
  return out;
}

// A ZooKeeper C client handle that remembers its session states.
class ZkClient {
 public:
  explicit ZkClient(const std::string& hosts, int session_timeout_ms = 30000)
      : zh_(zookeeper_init(hosts.c_str(), &ZkClient::Watcher, session_timeout_ms, nullptr, this, 0)) {}
  ~ZkClient() {
    if (zh_ != nullptr) zookeeper_close(zh_);  // joins the client threads before members die
  }
  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  zhandle_t* get() const { return zh_; }

  // Waits until the current session state is `state`.
  bool WaitForState(int state, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return state_ == state; });
  }

 private:
  static void Watcher(zhandle_t*, int type, int state, const char*, void* context) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* self = static_cast<ZkClient*>(context);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->state_ = state;
    self->cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int state_ = 0;
  zhandle_t* zh_;
};

// Creates `path`, retrying while the client is between servers. A create that failed with
// connection loss may still have been applied, so ZNODEEXISTS after one counts as success.
int CreateWithRetry(ZkClient& client, const std::string& path, const std::string& data,
                    milliseconds timeout, int flags = 0) {
  const auto deadline = Clock::now() + timeout;
  bool maybe_applied = false;
  int rc = ZCONNECTIONLOSS;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (!client.WaitForState(ZOO_CONNECTED_STATE, left)) break;
    rc = zoo_create(client.get(), path.c_str(), data.data(), static_cast<int>(data.size()),
                    &ZOO_OPEN_ACL_UNSAFE, flags, nullptr, 0);
    if (rc == ZOK || (rc == ZNODEEXISTS && maybe_applied)) return ZOK;
    if (rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT) return rc;
    maybe_applied = true;
    std::this_thread::sleep_for(50ms);
  }
  return rc;
}

std::optional<std::string> Get(ZkClient& client, const std::string& path) {
  char buf[1024];
  int len = sizeof buf;
  if (zoo_get(client.get(), path.c_str(), 0, buf, &len, nullptr) != ZOK) return std::nullopt;
  return std::string(buf, static_cast<size_t>(std::max(len, 0)));
}

// "Gone" also covers a zombie: once reparented, reaping is up to init, not the test.
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  size_t paren = stat.rfind(") ");
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::unique_ptr<ZkEnsemble> StartTimed(EnsembleOptions options) {
  const auto start = Clock::now();
  auto zk = ZkEnsemble::Start(options);
  Timing("start_" + std::to_string(options.members) + "_members", MsSince(start));
  return zk;
}

TEST(HarnessTest, StandaloneServerServesClients) {
  auto zk = StartTimed({.members = 1});
  ASSERT_EQ(zk->size(), 1);
  EXPECT_TRUE(zk->IsRunning(0));
  EXPECT_GT(zk->Pid(0), 0);
  EXPECT_EQ(zk->Leader(5s), 0);
  const std::string srvr = zk->Srvr(0);
  EXPECT_NE(srvr.find("Mode: standalone"), std::string::npos) << srvr;
  EXPECT_TRUE(zk->IsServing(0));
  EXPECT_EQ(zk->ConnectString(), zk->ConnectString(0));
  EXPECT_EQ(zk->ConnectString(0).rfind("127.0.0.1:", 0), 0u) << zk->ConnectString(0);
  EXPECT_TRUE(zk->WaitForQuorum(5s));
  EXPECT_THROW(zk->Restart(0), std::logic_error);
  EXPECT_THROW(zk->Srvr(1), std::out_of_range);

  ZkClient client(zk->ConnectString());
  ASSERT_TRUE(client.WaitForState(ZOO_CONNECTED_STATE, 10s)) << Logs(*zk);
  ASSERT_EQ(CreateWithRetry(client, "/harness", "hello", 10s), ZOK);
  EXPECT_EQ(Get(client, "/harness"), "hello");
  EXPECT_NE(zk->LogTail(0).find("zookeeper"), std::string::npos) << "server log is empty";
}

TEST(HarnessTest, EnsembleHasOneLeaderAndReplicates) {
  auto zk = StartTimed({.members = 3});
  ASSERT_EQ(zk->size(), 3);
  std::vector<std::string> modes;
  for (int i = 0; i < 3; ++i) modes.push_back(ModeOf(zk->Srvr(i)));
  EXPECT_EQ(std::count(modes.begin(), modes.end(), "leader"), 1) << Logs(*zk);
  EXPECT_EQ(std::count(modes.begin(), modes.end(), "follower"), 2) << Logs(*zk);
  const int leader = zk->Leader(0ms);
  ASSERT_GE(leader, 0);
  EXPECT_EQ(modes[static_cast<size_t>(leader)], "leader");
  EXPECT_EQ(zk->ConnectString(),
            zk->ConnectString(0) + "," + zk->ConnectString(1) + "," + zk->ConnectString(2));
  std::set<std::string> distinct = {zk->ConnectString(0), zk->ConnectString(1), zk->ConnectString(2)};
  EXPECT_EQ(distinct.size(), 3u);

  // Write through one follower (forwarded to the leader), read from the other follower.
  const int a = (leader + 1) % 3;
  const int b = (leader + 2) % 3;
  ZkClient writer(zk->ConnectString(a));
  ZkClient reader(zk->ConnectString(b));
  ASSERT_EQ(CreateWithRetry(writer, "/replicated", "via-a", 10s), ZOK) << Logs(*zk);
  ASSERT_TRUE(reader.WaitForState(ZOO_CONNECTED_STATE, 10s));
  // Followers apply commits asynchronously: without sync() a read may briefly lag.
  EXPECT_TRUE(Eventually([&] { return Get(reader, "/replicated") == "via-a"; }, 10s)) << Logs(*zk);
}

TEST(HarnessTest, KilledLeaderIsReplacedAndRejoinsAsFollower) {
  auto zk = StartTimed({.members = 3});
  const int old_leader = zk->Leader(0ms);
  ASSERT_GE(old_leader, 0);

  const auto killed = Clock::now();
  zk->Kill(old_leader);
  EXPECT_FALSE(zk->IsRunning(old_leader));
  EXPECT_EQ(zk->Pid(old_leader), -1);
  EXPECT_EQ(zk->Srvr(old_leader), "");
  const int new_leader = zk->Leader(20s);
  Timing("election_after_leader_kill", MsSince(killed));
  ASSERT_GE(new_leader, 0) << Logs(*zk);
  EXPECT_NE(new_leader, old_leader);
  EXPECT_TRUE(zk->WaitForQuorum(20s)) << Logs(*zk);

  ZkClient client(zk->ConnectString());
  ASSERT_EQ(CreateWithRetry(client, "/after-failover", "x", 20s), ZOK) << Logs(*zk);

  const auto restarted = Clock::now();
  zk->Restart(old_leader);
  EXPECT_TRUE(zk->IsRunning(old_leader));
  EXPECT_GT(zk->Pid(old_leader), 0);
  ASSERT_TRUE(zk->WaitForQuorum(40s)) << Logs(*zk);
  Timing("restarted_member_serving", MsSince(restarted));
  EXPECT_EQ(ModeOf(zk->Srvr(old_leader)), "follower") << Logs(*zk);
  EXPECT_EQ(zk->Leader(0ms), new_leader);

  // It caught up with what was written while it was dead.
  ZkClient rejoined(zk->ConnectString(old_leader));
  ASSERT_TRUE(rejoined.WaitForState(ZOO_CONNECTED_STATE, 10s));
  EXPECT_TRUE(Eventually([&] { return Get(rejoined, "/after-failover") == "x"; }, 10s));
}

TEST(HarnessTest, FrozenFollowerDoesNotHangSrvrAndRecoversWhenThawed) {
  auto zk = StartTimed({.members = 3});
  const int leader = zk->Leader(0ms);
  ASSERT_GE(leader, 0);
  const int frozen = (leader + 1) % 3;

  zk->Freeze(frozen);
  EXPECT_TRUE(zk->IsRunning(frozen));
  const auto asked = Clock::now();
  EXPECT_EQ(zk->Srvr(frozen), "");
  const long long srvr_ms = MsSince(asked);
  Timing("srvr_on_frozen_member", srvr_ms);
  EXPECT_LT(srvr_ms, 1500);
  EXPECT_FALSE(zk->IsServing(frozen));
  // The two others still form a quorum and accept writes the frozen one misses.
  EXPECT_TRUE(zk->WaitForQuorum(10s)) << Logs(*zk);
  // Stay frozen until the leader gives up on the member (no ping acks for syncLimit
  // ticks), so Thaw() exercises a real rejoin and not just a pause.
  const auto frozen_at = Clock::now();
  EXPECT_TRUE(Eventually(
      [&] {
        return zk->FourLetterWord(leader, "mntr").find("zk_synced_followers\t1\n") !=
               std::string::npos;
      },
      15s))
      << zk->FourLetterWord(leader, "mntr");
  Timing("leader_drops_frozen_follower", MsSince(frozen_at));
  ZkClient client(zk->ConnectString(leader));
  ASSERT_EQ(CreateWithRetry(client, "/while-frozen", "y", 10s), ZOK) << Logs(*zk);

  const auto thawed = Clock::now();
  zk->Thaw(frozen);
  EXPECT_TRUE(Eventually([&] { return zk->IsServing(frozen); }, 30s)) << Logs(*zk);
  Timing("thawed_member_serving", MsSince(thawed));
  EXPECT_TRUE(zk->WaitForQuorum(20s)) << Logs(*zk);
  ZkClient reader(zk->ConnectString(frozen));
  ASSERT_TRUE(reader.WaitForState(ZOO_CONNECTED_STATE, 10s)) << Logs(*zk);
  EXPECT_TRUE(Eventually([&] { return Get(reader, "/while-frozen") == "y"; }, 10s));
}

TEST(HarnessTest, LosingTheMajorityStopsServiceUntilRestart) {
  auto zk = StartTimed({.members = 3});
  const int leader = zk->Leader(0ms);
  ASSERT_GE(leader, 0);
  const int f1 = (leader + 1) % 3;
  const int f2 = (leader + 2) % 3;

  const auto killed = Clock::now();
  zk->Kill(f1);
  zk->Kill(f2);
  // The leader notices it lost its quorum (after ~syncLimit) and stops serving.
  ASSERT_TRUE(Eventually([&] { return !zk->IsServing(leader); }, 15s)) << Logs(*zk);
  Timing("leader_steps_down_after_losing_quorum", MsSince(killed));
  EXPECT_TRUE(zk->IsRunning(leader));
  EXPECT_NE(zk->Srvr(leader), "") << "up but not serving should still answer srvr";
  EXPECT_EQ(zk->Leader(0ms), -1);
  EXPECT_FALSE(zk->WaitForQuorum(0ms));
  {
    // A lone member refuses client sessions, so nothing can be written.
    ZkClient client(zk->ConnectString());
    EXPECT_FALSE(client.WaitForState(ZOO_CONNECTED_STATE, 2s));
  }

  const auto restarted = Clock::now();
  zk->Restart(f1);
  zk->Restart(f2);
  ASSERT_TRUE(zk->WaitForQuorum(40s)) << Logs(*zk);
  Timing("quorum_back_after_restarting_two", MsSince(restarted));
  EXPECT_GE(zk->Leader(0ms), 0);
  ZkClient client(zk->ConnectString());
  EXPECT_EQ(CreateWithRetry(client, "/after-quorum-loss", "z", 20s), ZOK) << Logs(*zk);
}

TEST(HarnessTest, MntrValueReadsOnlyTheLineThatStartsWithItsKey) {
  const std::string mntr = "zk_version\t3.8.0\nzk_watch_count\t2000\nzk_outstanding_requests\t-1\n"
                           "zk_max_watch_count_per_namespace\t7\n";
  EXPECT_EQ(MntrValue(mntr, "zk_watch_count"), 2000);
  EXPECT_EQ(MntrValue(mntr, "zk_outstanding_requests"), -1);
  EXPECT_EQ(MntrValue(mntr, "watch_count"), std::nullopt);  // a key's tail is not the key
  EXPECT_EQ(MntrValue(mntr, "zk_packets_received"), std::nullopt);
  EXPECT_EQ(MntrValue("", "zk_watch_count"), std::nullopt);
}

TEST(HarnessTest, ExpireSessionEndsTheSessionAndItsEphemerals) {
  auto zk = StartTimed({.members = 3});
  // A session timeout far beyond the test's deadlines: expiry can only come from us.
  ZkClient victim(zk->ConnectString(), 60000);
  ASSERT_TRUE(victim.WaitForState(ZOO_CONNECTED_STATE, 10s)) << Logs(*zk);
  const clientid_t* id = zoo_client_id(victim.get());
  ASSERT_NE(id, nullptr);
  const int64_t session_id = id->client_id;
  const std::string password(id->passwd, sizeof id->passwd);
  ASSERT_EQ(CreateWithRetry(victim, "/ephemeral", "e", 10s, ZOO_EPHEMERAL), ZOK);

  ZkClient observer(zk->ConnectString());
  ASSERT_TRUE(observer.WaitForState(ZOO_CONNECTED_STATE, 10s));
  ASSERT_TRUE(Eventually([&] { return Get(observer, "/ephemeral").has_value(); }, 10s));

  const auto expiring = Clock::now();
  ASSERT_TRUE(ZkEnsemble::ExpireSession(zk->ConnectString(), session_id, password, 10s)) << Logs(*zk);
  Timing("expire_session", MsSince(expiring));
  // The victim learns of the expiry at its next contact with a server: with a 60 s session
  // that can be a ping up to 20 s away, and a reconnect after the 40 s receive timeout.
  EXPECT_TRUE(victim.WaitForState(ZOO_EXPIRED_SESSION_STATE, 50s));
  EXPECT_TRUE(Eventually(
      [&] { return zoo_exists(observer.get(), "/ephemeral", 0, nullptr) == ZNONODE; }, 10s));

  // An already expired session (same answer as a wrong password) is reported as false.
  EXPECT_FALSE(ZkEnsemble::ExpireSession(zk->ConnectString(), session_id, password, 5s));
  EXPECT_THROW(ZkEnsemble::ExpireSession(zk->ConnectString(), 1, std::string(17, 'x'), 1s),
               std::invalid_argument);
}

TEST(HarnessTest, DestructorKillsEveryMemberAndRemovesItsDir) {
  std::vector<pid_t> pids;
  std::string dir;
  {
    auto zk = StartTimed({.members = 3});
    for (int i = 0; i < 3; ++i) {
      ASSERT_GT(zk->Pid(i), 0);
      pids.push_back(zk->Pid(i));
    }
    dir = zk->WorkDir();
    ASSERT_TRUE(std::filesystem::exists(dir + "/member0/data"));
    zk->Freeze(1);  // a stopped JVM must die too
    zk->Kill(2);    // and an already killed one must not trip the destructor
    pids.pop_back();
  }
  for (pid_t pid : pids) {
    // The destructor reaped its children, so they are gone at once, not eventually.
    EXPECT_EQ(::kill(pid, 0), -1) << "pid " << pid << " survived";
    EXPECT_EQ(errno, ESRCH);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(HarnessTest, ServersDieWithACrashedTestProcess) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    try {
      auto zk = ZkEnsemble::Start({.members = 1});
      const pid_t server = zk->Pid(0);
      const std::string dir = zk->WorkDir();
      if (::write(fds[1], &server, sizeof server) == sizeof server &&
          ::write(fds[1], dir.data(), dir.size()) == static_cast<ssize_t>(dir.size())) {
        ::_exit(0);  // no destructors: the way a crashing test leaves its servers behind
      }
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(fds[1]);
  pid_t server = -1;
  const bool got_pid = ::read(fds[0], &server, sizeof server) == sizeof server;
  std::string dir;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) dir.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  if (!dir.empty()) {
    std::error_code ignored;  // the child's destructor never ran
    std::filesystem::remove_all(dir, ignored);
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child could not start a server";
  ASSERT_TRUE(got_pid);
  ASSERT_GT(server, 0);
  EXPECT_TRUE(Eventually([&] { return ProcessGone(server); }, 10s))
      << "server pid " << server << " outlived its parent";
}

}  // namespace
