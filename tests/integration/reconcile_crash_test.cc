// kill -9 while reconciling: a child registers, updates and deregisters random paths through a
// Registrar while its reconciler drains to a real server; the parent SIGKILLs it at random
// points, many times, restarting it on the same spool. At the end ZooKeeper must equal the model:
// every acknowledged intent applied in order, no node the model does not hold (no ghosts), each
// ephemeral owned by the final session (no stale duplicates).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zk_probe.h"
#include "zkspool/registrar.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;

constexpr int kLives = 30;

struct PathState {
  std::optional<std::string> acked;      // after the last acknowledged intent (nullopt: absent)
  std::optional<std::string> tentative;  // a later intent whose ack the kill cut off
  bool has_tentative = false;
};

std::string RunLife(const std::string& spool, const std::string& hosts, uint64_t seed, std::chrono::milliseconds life) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    std::string s = std::to_string(seed);
    ::execl(ZKSPOOL_RECONCILE_CHILD, ZKSPOOL_RECONCILE_CHILD, spool.c_str(), hosts.c_str(), s.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::this_thread::sleep_for(life);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(fds[0]);
  return out;
}

TEST(ReconcileCrashTest, KilledMidDrainManyTimesZooKeeperEndsEqualToTheModel) {
  auto zk = testing::ZkEnsemble::Start();
  ::zkspool::testing::TempDir dir;
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::map<std::string, PathState> model;
  size_t acked = 0;
  for (int life = 0; life < kLives; ++life) {
    auto length = std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 900)(rng));
    std::istringstream lines(RunLife(dir.Sub("spool"), zk->ConnectString(), rng(), length));
    std::string kind, op, path, data, pending_path;
    std::optional<std::string> pending_value;
    bool has_pending = false;
    while (lines >> kind) {
      if (kind == "T") {
        lines >> op >> path >> data;
        pending_path = path;
        pending_value = op == "P" ? std::optional<std::string>(data) : std::nullopt;
        has_pending = true;
      } else {
        uint64_t seq;
        lines >> seq;
        ASSERT_TRUE(has_pending);
        PathState& state = model[pending_path];
        state.acked = pending_value;
        state.has_tentative = false;
        has_pending = false;
        ++acked;
      }
    }
    if (has_pending) {  // spooled or not: both endings are allowed for this path
      PathState& state = model[pending_path];
      state.tentative = pending_value;
      state.has_tentative = true;
    }
  }

  RegistrarOptions options;
  options.spool_dir = dir.Sub("spool");
  options.hosts = zk->ConnectString();
  options.session_timeout = 6s;
  auto registrar = Registrar::Open(options);
  ASSERT_TRUE(registrar.ok()) << registrar.status().ToString();
  testing::ZkProbe probe(zk->ConnectString());
  std::string mismatch;
  bool equal = Eventually(
      [&] {
        RegistrarStats stats = (*registrar)->Stats();
        if (stats.session_state != SessionState::kConnected || stats.spool.pending_count != 0) {
          mismatch = "not drained yet";
          return false;
        }
        std::set<std::string> present;
        for (const std::string& child : probe.Children("/rc")) present.insert("/rc/" + child);
        for (const auto& [p, state] : model) {
          auto node = probe.Get(p);
          std::optional<std::string> got = node ? std::optional<std::string>(node->data) : std::nullopt;
          bool ok = got == state.acked || (state.has_tentative && got == state.tentative);
          if (!ok) {
            mismatch = p + " is " + (got ? "\"" + *got + "\"" : "absent") + ", model says " +
                       (state.acked ? "\"" + *state.acked + "\"" : "absent");
            return false;
          }
          if (node && node->ephemeral_owner != stats.session_id) {
            mismatch = p + " is owned by an old session";
            return false;
          }
          present.erase(p);
        }
        if (!present.empty()) {
          mismatch = "ghost node " + *present.begin();
          return false;
        }
        return true;
      },
      60s);
  EXPECT_TRUE(equal) << mismatch;
  std::printf("%d kills, %zu acknowledged intents, %zu paths\n", kLives, acked, model.size());
  EXPECT_GT(acked, static_cast<size_t>(kLives));
}

}  // namespace
}  // namespace zkspool
