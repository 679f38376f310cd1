// kill -9 at random moments: a child process appends and marks applied, reporting each
// acknowledged operation through a pipe; the parent SIGKILLs it, reopens the spool and checks
// that everything acknowledged is there, byte for byte, and that no sequence number is reused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

constexpr int kKills = 220;

struct Acked {
  bool put = true;
  std::string path;
  std::string data;
};

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

class ChildProcess {
 public:
  ChildProcess(const std::string& dir, const char* durability, uint64_t seed) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::string seed_text = std::to_string(seed);
      ::execl(ZKSPOOL_CRASH_CHILD, ZKSPOOL_CRASH_CHILD, dir.c_str(), durability, seed_text.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0) KillAndReap();
    if (out_ >= 0) ::close(out_);
  }
  int KillAndReap() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  // Reads until the child reports its spool open ("O" line); false if it dies first.
  bool WaitUntilOpen() {
    char c;
    while (::read(out_, &c, 1) == 1) {
      seen_ += c;
      if (seen_.ends_with("O\n")) return true;
    }
    return false;
  }
  // Everything the child wrote; call after it is dead.
  std::string DrainOutput() {
    std::string all = std::move(seen_);
    char buf[65536];
    for (ssize_t n; (n = ::read(out_, buf, sizeof buf)) > 0;) all.append(buf, n);
    return all;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string seen_;
};

TEST(SpoolCrashTest, AcknowledgedIntentsSurviveKillNine) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ::zkspool::testing::TempDir dir;
  const std::string spool_dir = dir.Sub("spool");

  std::map<uint64_t, Acked> pending;      // acknowledged appends not (known to be) applied
  std::map<std::string, uint64_t> last_applied;  // path -> seq of its last acknowledged applied intent
  std::map<uint64_t, Acked> all_acked;
  std::set<uint64_t> maybe_applied;  // MarkApplied begun, the kill came before its acknowledgement
  uint64_t next_sequence_floor = 1;  // every seq a new child hands out must be at least this
  size_t total_appends = 0, total_applied = 0;

  for (int kill = 0; kill < kKills; ++kill) {
    const char* durability = kill % 2 == 0 ? "sync" : "buffered";
    ChildProcess child(spool_dir, durability, rng());
    // Every other kill waits for the spool to be open, so that kills land mid-stream even where
    // opening is slow (sanitizer builds); the others may land while it is being opened or created.
    if (kill % 4 >= 2) {
      ASSERT_TRUE(child.WaitUntilOpen()) << "the child died before opening the spool";
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 60'000)(rng)));
    int status = child.KillAndReap();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended by itself (status " << status << ") before kill " << kill;

    std::istringstream lines(child.DrainOutput());
    std::string kind;
    while (lines >> kind) {
      if (kind == "O") continue;
      if (kind == "A") {
        uint64_t seq;
        std::string op, path, hex;
        lines >> seq >> op >> path;
        std::getline(lines, hex);
        hex.erase(0, hex.find_first_not_of(' '));
        ASSERT_GE(seq, next_sequence_floor) << "sequence number reused after kill " << kill;
        ASSERT_EQ(all_acked.count(seq), 0u) << "sequence number " << seq << " acknowledged twice";
        next_sequence_floor = seq + 1;
        pending[seq] = all_acked[seq] = {op == "P", path, Unhex(hex)};
        ++total_appends;
      } else if (kind == "m") {
        for (int i = 0; i < 3; ++i) {
          uint64_t seq;
          lines >> seq;
          ASSERT_EQ(pending.erase(seq), 1u) << "seq " << seq << " to apply was never acknowledged";
          maybe_applied.insert(seq);
        }
      } else {
        ASSERT_EQ(kind, "M");
        for (int i = 0; i < 3; ++i) {
          uint64_t seq;
          lines >> seq;
          ASSERT_EQ(maybe_applied.erase(seq), 1u) << "applied seq " << seq << " was not announced";
          uint64_t& last = last_applied[all_acked[seq].path];
          last = std::max(last, seq);
          ++total_applied;
        }
      }
    }

    auto spool = Spool::Open(spool_dir);
    ASSERT_TRUE(spool.ok()) << "the spool must open cleanly after kill " << kill << ": " << spool.status().ToString();
    for (uint64_t seq : maybe_applied) {  // all or nothing: one batch is one atomic write
      if ((*spool)->GetPending(seq).ok()) pending[seq] = all_acked[seq];
    }
    maybe_applied.clear();
    for (const auto& [seq, acked] : pending) {
      auto got = (*spool)->GetPending(seq);
      ASSERT_TRUE(got.ok()) << "acknowledged intent " << seq << " lost after kill " << kill << ": "
                            << got.status().ToString();
      ASSERT_EQ(got->intent.path, acked.path);
      ASSERT_EQ(got->intent.data, acked.data) << "intent " << seq << " changed";
    }
    for (const auto& [path, seq] : last_applied) {
      // The registered node reflects the path's last acknowledged applied intent, or a later one
      // whose acknowledgement the kill cut off.
      auto registered = (*spool)->GetRegistered(path);
      if (registered.ok()) {
        ASSERT_GE(registered->seq, seq) << path;
        ASSERT_TRUE(registered->seq > seq || all_acked[seq].put) << path << " deleted at " << seq << " came back";
        if (all_acked.count(registered->seq)) {
          ASSERT_EQ(registered->intent.data, all_acked[registered->seq].data) << path;
        }
      } else {
        ASSERT_EQ(registered.status().code(), StatusCode::kNotFound);
      }
    }
    auto stats = (*spool)->Stats();
    ASSERT_TRUE(stats.ok());
    next_sequence_floor = std::max(next_sequence_floor, stats->next_sequence);
  }
  std::printf("%d kills, %zu acknowledged appends, %zu acknowledged applies, %zu pending at the end\n", kKills,
              total_appends, total_applied, pending.size());
  EXPECT_GT(total_appends, static_cast<size_t>(kKills));  // the children really did work between kills
}

}  // namespace
}  // namespace zkspool
