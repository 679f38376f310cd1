// The chaos run: a seeded, time-bounded fault campaign against the whole system. A child process
// (chaos_child) owns a spool through a Registrar and registers, updates and deregisters random
// paths from several threads; this process injects faults at random: leader SIGKILL, follower
// SIGKILL, a frozen member (SIGSTOP), 2 of 3 members killed for a while, our session expired,
// kill -9 + restart of the child, another client holding one of our paths for a while, an ACL
// that denies us a subtree for a while, and a full disk under the child's spool for a while.
// After each fault it quiesces the workload and checks the invariants (see CheckQuiet); a
// violation ends the run with status 1.
//
//   chaos_run --child PATH [--seconds N] [--seed S] [--only KIND]   (seed 0: random, printed)
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "chaos_model.h"
#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zk_probe.h"

namespace zkspool::chaos {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ZkEnsemble;
using testing::ZkProbe;

constexpr int kThreads = 4;  // as in chaos_child.cc

// The owning process: its report lines feed the model; replies to commands are queued.
class Owner {
 public:
  Owner(const std::string& binary, const std::string& spool, const std::string& hosts, uint64_t seed,
        ChaosModel& model, std::mutex& model_mu)
      : model_(model), model_mu_(model_mu) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const pid_t parent = ::getpid();
    const std::string seed_arg = std::to_string(seed);  // no allocation between fork and exec
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::execl(binary.c_str(), binary.c_str(), spool.c_str(), hosts.c_str(), seed_arg.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    reader_ = std::thread([this] { Read(); });
  }
  ~Owner() {
    Kill();
    reader_.join();
    ::close(stdout_);
  }

  void Kill() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    ::close(stdin_);
  }
  [[noreturn]] void Gone() {
    std::string cause = DeathCause();
    throw std::runtime_error(cause.empty() ? "the owner process is gone" : cause);
  }
  // "" while the process runs (or was killed by us); else how it ended. A crash is a violation.
  std::string DeathCause() {
    if (pid_ < 0) return "";
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return "";
    pid_ = -1;
    ::close(stdin_);
    if (WIFSIGNALED(status)) return "the owner process died of signal " + std::to_string(WTERMSIG(status));
    return "the owner process exited with status " + std::to_string(WEXITSTATUS(status));
  }

  // Sends a command and returns the reply line starting with `reply` (throws on timeout).
  std::string Ask(const std::string& command, char reply, std::chrono::seconds timeout = 60s) {
    std::string line = command + "\n";
    if (::write(stdin_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) Gone();
    std::unique_lock lock(mu_);
    if (!arrived_.wait_for(lock, timeout, [&] { return !replies_.empty() || ended_; }) || replies_.empty()) {
      throw std::runtime_error("no reply to \"" + command + "\" from the owner process");
    }
    std::string r = replies_.front();
    replies_.pop_front();
    if (r.empty() || r[0] != reply) throw std::runtime_error("unexpected reply \"" + r + "\" to " + command);
    return r;
  }
  void Tell(const std::string& command) {
    std::string line = command + "\n";
    if (::write(stdin_, line.data(), line.size()) < 0) Gone();
  }
  pid_t pid() const { return pid_; }
  std::string bad_line() {
    std::lock_guard lock(mu_);
    return bad_line_;
  }

 private:
  void Read() {
    std::string pending;
    char buffer[65536];
    for (ssize_t n; (n = ::read(stdout_, buffer, sizeof buffer)) > 0;) {
      pending.append(buffer, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string line = pending.substr(start, nl - start);
        if (line[0] == 'T' || line[0] == 'A' || line[0] == 'F') {
          std::lock_guard lock(model_mu_);
          if (!model_.Feed(line)) {
            std::lock_guard own(mu_);
            bad_line_ = line;
          }
        } else {
          std::lock_guard lock(mu_);
          replies_.push_back(line);
          arrived_.notify_all();
        }
      }
      pending.erase(0, start);
    }
    std::lock_guard lock(mu_);
    ended_ = true;
    arrived_.notify_all();
  }

  ChaosModel& model_;
  std::mutex& model_mu_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable arrived_;
  std::deque<std::string> replies_;
  std::string bad_line_;
  bool ended_ = false;
};

enum class Fault {
  kLeaderKill,
  kFollowerKill,
  kFreeze,
  kQuorumLoss,
  kSessionExpiry,
  kOwnerKill,
  kForeignGrab,
  kAclDenial,
  kDiskFull,
  kCount
};
const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kLeaderKill: return "leader SIGKILL";
    case Fault::kFollowerKill: return "follower SIGKILL";
    case Fault::kFreeze: return "member SIGSTOP";
    case Fault::kQuorumLoss: return "2 of 3 SIGKILL";
    case Fault::kSessionExpiry: return "session expiry";
    case Fault::kOwnerKill: return "owner kill -9";
    case Fault::kForeignGrab: return "foreign grab";
    case Fault::kAclDenial: return "ACL denial";
    case Fault::kDiskFull: return "disk full";
    case Fault::kCount: break;
  }
  return "?";
}

const char* FaultId(Fault f) {
  static const char* ids[] = {"leader-kill",    "follower-kill", "freeze",     "quorum-loss", "session-expiry",
                              "owner-kill",     "foreign-grab",  "acl-denial", "disk-full"};
  return ids[static_cast<int>(f)];
}

// The ACL that denies everyone but the chaos run's own "bob" any change under a node.
ACL_vector* ReadOnlyForOthers() {
  static ACL entries[] = {{ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}, {ZOO_PERM_ALL, ZOO_AUTH_IDS}};
  static ACL_vector acl = {2, entries};
  return &acl;
}

struct Settings {
  std::string child;
  std::string only;  // a FaultId: inject only this kind
  int seconds = 120;
  uint64_t seed = 1;
};

class ChaosRun {
 public:
  explicit ChaosRun(const Settings& s) : s_(s), rng_(s.seed) {}

  int Run() {
    zk_ = ZkEnsemble::Start({.members = 3, .tick_ms = 100, .max_session_timeout_ms = 60000, .force_sync = false});
    spool_ = dir_.Sub("spool");
    StartOwner();
    const auto end = Clock::now() + std::chrono::seconds(s_.seconds);
    int round = 0;
    while (Clock::now() < end) {
      ++round;
      Load(Ms(200, 800));
      Fault fault = NextFault();
      const auto injected = Clock::now();
      std::string detail = Inject(fault);
      ++injected_[static_cast<int>(fault)];
      Load(Ms(100, 500));
      const auto checked = Clock::now();
      std::string violation = CheckQuiet();
      // How long the fault and the check took: what a round costs, kind by kind.
      std::printf("round %3d  t=%4llds  %-17s %-24s %s  (fault %lld ms, check %lld ms)\n", round,
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count()),
                  FaultName(fault), detail.c_str(), violation.empty() ? "invariants hold" : "VIOLATION",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(checked - injected).count()),
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - checked).count()));
      std::fflush(stdout);
      if (!violation.empty()) {
        std::printf("violation: %s\nreplay: chaos_run --seed %llu --seconds %d\n", violation.c_str(),
                    static_cast<unsigned long long>(s_.seed), s_.seconds);
        if (std::getenv("ZKSPOOL_CHAOS_HOLD")) {  // keep everything alive for a debugger
          std::printf("holding for 10 minutes: owner pid %d, spool %s\n", owner_->pid(), spool_.c_str());
          std::fflush(stdout);
          std::this_thread::sleep_for(600s);
        }
        return 1;
      }
    }
    std::printf("\nchaos summary (seed %llu, %d s, %d rounds):\n", static_cast<unsigned long long>(s_.seed),
                s_.seconds, round);
    for (int f = 0; f < static_cast<int>(Fault::kCount); ++f) {
      std::printf("  %-18s %d\n", FaultName(static_cast<Fault>(f)), injected_[f]);
    }
    std::lock_guard lock(model_mu_);
    std::printf("  acknowledged intents: %llu\n  violations: 0\n", static_cast<unsigned long long>(model_.acked()));
    std::printf("chaos verdict: 0 violations\n");
    return 0;
  }

 private:
  // Every kind once per cycle, in a random order: even a short run injects each of them.
  Fault NextFault() {
    if (cycle_.empty()) {
      for (int f = 0; f < static_cast<int>(Fault::kCount); ++f) {
        if (s_.only.empty() || s_.only == FaultId(static_cast<Fault>(f))) cycle_.push_back(static_cast<Fault>(f));
      }
      if (cycle_.empty()) throw std::runtime_error("--only " + s_.only + " is not a fault kind");
      std::shuffle(cycle_.begin(), cycle_.end(), rng_);
    }
    Fault f = cycle_.back();
    cycle_.pop_back();
    return f;
  }
  std::chrono::milliseconds Ms(int lo, int hi) { return std::chrono::milliseconds(lo + rng_() % (hi - lo + 1)); }
  void Load(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

  void StartOwner() {
    owner_ = std::make_unique<Owner>(s_.child, spool_, zk_->ConnectString(), rng_(), model_, model_mu_);
  }

  int RunningMember(bool leader) {
    int l = zk_->Leader(30s);
    if (leader) return l;
    for (int m = 0; m < zk_->size(); ++m) {
      if (m != l && zk_->IsRunning(m)) return m;
    }
    return -1;
  }

  std::string Inject(Fault fault) {
    switch (fault) {
      case Fault::kLeaderKill:
      case Fault::kFollowerKill: {
        int m = RunningMember(fault == Fault::kLeaderKill);
        if (m < 0) return "no such member";
        zk_->Kill(m);
        Load(Ms(300, 2000));
        zk_->Restart(m);
        return "member " + std::to_string(m);
      }
      case Fault::kFreeze: {
        int m = static_cast<int>(rng_() % 3);
        zk_->Freeze(m);
        auto held = Ms(1000, 4500);
        Load(held);
        zk_->Thaw(m);
        return "member " + std::to_string(m) + " for " + std::to_string(held.count()) + " ms";
      }
      case Fault::kQuorumLoss: {
        int spared = static_cast<int>(rng_() % 3);
        for (int m = 0; m < 3; ++m) {
          if (m != spared) zk_->Kill(m);
        }
        auto held = Ms(1500, 6000);
        Load(held);
        for (int m = 0; m < 3; ++m) {
          if (m != spared) zk_->Restart(m);
        }
        return "for " + std::to_string(held.count()) + " ms";
      }
      case Fault::kSessionExpiry: {
        auto [id, password] = testing::ReadSavedSession(spool_);
        bool expired = ZkEnsemble::ExpireSession(zk_->ConnectString(), id, password, 30s);
        return expired ? "expired" : "not expired (already gone)";
      }
      case Fault::kOwnerKill: {
        owner_.reset();  // kills it and reads every line it wrote before the model hears of the kill
        {
          std::lock_guard lock(model_mu_);
          model_.OwnerKilled();
        }
        StartOwner();
        return "restarted";
      }
      case Fault::kForeignGrab: {
        // Another client takes one of our ephemeral paths that is free right now, holds it while
        // the workers go on (our intents for it wait, a Deregister leaves it alone), then lets go.
        ZkProbe other(zk_->ConnectString());
        for (int attempt = 0; attempt < 20; ++attempt) {
          const std::string path = "/chaos/w" + std::to_string(rng_() % kThreads) + "/p" + std::to_string(rng_() % 6);
          if (other.Create(path, "foreign", ZOO_EPHEMERAL) != ZOK) continue;
          auto held = Ms(500, 3000);
          Load(held);
          other.Delete(path);
          return path + " for " + std::to_string(held.count()) + " ms";
        }
        return "no free path to grab";
      }
      case Fault::kAclDenial: {
        // A subtree turns read-only for us (creates and deletes under it get ZNOAUTH), then the
        // ACL is lifted again.
        const std::string parent = "/chaos/w" + std::to_string(rng_() % kThreads);
        ZkProbe admin(zk_->ConnectString());
        zoo_add_auth(admin.handle(), "digest", "bob:chaos", 9, nullptr, nullptr);
        if (int rc = zoo_set_acl(admin.handle(), parent.c_str(), -1, ReadOnlyForOthers()); rc != ZOK) {
          return std::string("set_acl failed: ") + zerror(rc);
        }
        auto held = Ms(500, 3000);
        Load(held);
        int rc = zoo_set_acl(admin.handle(), parent.c_str(), -1, &ZOO_OPEN_ACL_UNSAFE);
        return parent + " for " + std::to_string(held.count()) + " ms" + (rc == ZOK ? "" : " (NOT lifted)");
      }
      case Fault::kDiskFull: {
        owner_->Ask("full", 'D');
        auto held = Ms(500, 2000);
        Load(held);
        owner_->Ask("space", 'D');
        return "for " + std::to_string(held.count()) + " ms";
      }
      case Fault::kCount: break;
    }
    return "";
  }

  // Every node under /chaos as path -> data; also checks ephemeral ownership on the way.
  std::map<std::string, std::string> ReadZooKeeper(ZkProbe& probe, int64_t session, std::string& ownership) {
    std::map<std::string, std::string> zk;
    for (int t = 0; t < kThreads; ++t) {
      const std::string parent = "/chaos/w" + std::to_string(t);
      for (const std::string& child : probe.Children(parent)) {
        const std::string path = parent + "/" + child;
        auto node = probe.Get(path);
        if (!node) continue;
        zk[path] = node->data;
        const bool ephemeral = child < "p6";  // p0..p5, as chaos_child.cc makes them
        if (ownership.empty() && ephemeral && node->ephemeral_owner != session) {
          ownership = path + " is owned by session " + std::to_string(node->ephemeral_owner) + ", not ours (" +
                      std::to_string(session) + ")";
        }
        if (ownership.empty() && !ephemeral && node->ephemeral_owner != 0) ownership = path + " should be persistent";
      }
    }
    return zk;
  }

  // Quiet: every member back and serving, the owner paused with nothing pending. Then ZooKeeper
  // must equal the model exactly (no acknowledged intent lost, no deleted path back from an older
  // intent, no node never asked for), ephemerals owned by the current session, and the spool must
  // hold only the registered set.
  std::string CheckQuiet() {
    if (!zk_->WaitForQuorum(90s)) return "the ensemble did not recover in 90 s";
    if (std::string died = owner_->DeathCause(); !died.empty()) return died;
    owner_->Ask("pause", 'P');
    std::string last = "never checked";
    const auto deadline = Clock::now() + 90s;
    while (Clock::now() < deadline) {
      std::istringstream stats(owner_->Ask("stats", 'S').substr(2));
      uint64_t pending = 0;
      uint64_t registered = 0;
      int64_t session = 0;
      stats >> pending >> registered >> session;
      if (pending != 0) {
        std::string owner_state;
        std::getline(stats >> std::ws, owner_state);
        last = std::to_string(pending) + " intents still pending (owner: " + owner_state + ")";
        std::this_thread::sleep_for(50ms);
        continue;
      }
      std::string ownership;
      std::map<std::string, std::string> zk;
      try {
        ZkProbe probe(zk_->ConnectString());
        zk = ReadZooKeeper(probe, session, ownership);
      } catch (const std::exception& e) {
        last = std::string("reading ZooKeeper: ") + e.what();
        continue;
      }
      std::lock_guard lock(model_mu_);
      last = model_.Check(zk);
      if (last.empty()) last = ownership;
      if (last.empty() && registered != zk.size()) {
        last = "the spool's registered set has " + std::to_string(registered) + " nodes, ZooKeeper " +
               std::to_string(zk.size());
      }
      if (last.empty()) {
        model_.Settle(zk);
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
    if (std::string bad = owner_->bad_line(); !bad.empty()) return "unparsable report line: " + bad;
    if (last.empty()) owner_->Tell("resume");
    return last;
  }

  Settings s_;
  std::mt19937_64 rng_;
  const Clock::time_point start_ = Clock::now();
  testing::TempDir dir_;
  std::unique_ptr<ZkEnsemble> zk_;
  std::string spool_;
  std::mutex model_mu_;
  ChaosModel model_;
  std::unique_ptr<Owner> owner_;
  int injected_[static_cast<int>(Fault::kCount)] = {};
  std::vector<Fault> cycle_;
};

}  // namespace
}  // namespace zkspool::chaos

int main(int argc, char** argv) {
  zkspool::chaos::Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--child") s.child = argv[i + 1];
    else if (flag == "--seconds") s.seconds = std::atoi(argv[i + 1]);
    else if (flag == "--seed") s.seed = std::stoull(argv[i + 1]);
    else if (flag == "--only") s.only = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (s.child.empty() || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: chaos_run --child PATH [--seconds N] [--seed S] [--only leader-kill|follower-kill|freeze|"
                 "quorum-loss|session-expiry|owner-kill|foreign-grab|acl-denial|disk-full]\n");
    return 2;
  }
  if (s.seed == 0) s.seed = std::random_device{}() | 1;
  ::signal(SIGPIPE, SIG_IGN);  // a dead owner shows as a failed write, reported, not as our death
  std::printf("chaos run: seed %llu, %d s (replay: --seed %llu)\n", static_cast<unsigned long long>(s.seed), s.seconds,
              static_cast<unsigned long long>(s.seed));
  try {
    return zkspool::chaos::ChaosRun(s).Run();
  } catch (const std::exception& e) {
    std::printf("chaos run failed: %s\nreplay: --seed %llu\n", e.what(), static_cast<unsigned long long>(s.seed));
    return 1;
  }
}
