// The spool on its own, before the reconciler exists: a "service" process registers endpoints as
// fast as the spool acknowledges them and is killed with SIGKILL mid-stream; the spool is then
// reopened and every acknowledged registration is checked, applied and inspected.
#include <signal.h>
#include <spdlog/logger.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "zkspool/spool.h"

namespace {

using namespace std::chrono;

zkspool::Intent Registration(int i) {
  zkspool::Intent intent;
  intent.path = "/services/payments/instance-" + std::to_string(i);
  intent.data = R"({"host":"10.0.0.)" + std::to_string(i % 250) + R"(","port":8080})";
  intent.mode = zkspool::NodeMode::kEphemeral;
  return intent;
}

zkspool::SpoolOptions Quiet() {
  zkspool::SpoolOptions options;
  options.logger = std::make_shared<spdlog::logger>("demo");  // the demo prints its own story
  return options;
}

// Runs in the child: register until killed, printing each acknowledged sequence number.
[[noreturn]] void RegisterForever(const std::string& dir, int ack_fd) {
  auto spool = zkspool::Spool::Open(dir, Quiet());
  if (!spool.ok()) ::_exit(1);
  for (int i = 0;; ++i) {
    auto seq = (*spool)->Append(Registration(i));
    if (!seq.ok()) ::_exit(1);
    std::string line = std::to_string(i) + " " + std::to_string(*seq) + "\n";
    if (::write(ack_fd, line.data(), line.size()) < 0) ::_exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string scratch = (std::filesystem::temp_directory_path() / "zkspool-demo-XXXXXX").string();
  if (argc < 2 && ::mkdtemp(scratch.data()) == nullptr) return 1;
  std::string dir = argc > 1 ? argv[1] : scratch + "/spool";
  std::filesystem::remove_all(dir);
  std::printf("== zkspool spool demo (spool: %s) ==\n", dir.c_str());

  int fds[2];
  if (::pipe(fds) != 0) return 1;
  auto started = steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    RegisterForever(dir, fds[1]);
  }
  ::close(fds[1]);
  std::this_thread::sleep_for(milliseconds(700));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::string acks;
  char buf[65536];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) acks.append(buf, n);
  ::close(fds[0]);
  std::vector<std::pair<int, uint64_t>> acked;
  for (size_t pos = 0; pos < acks.size();) {
    size_t end = acks.find('\n', pos);
    if (end == std::string::npos) break;
    int i;
    unsigned long long seq;
    if (std::sscanf(acks.c_str() + pos, "%d %llu", &i, &seq) == 2) acked.emplace_back(i, seq);
    pos = end + 1;
  }
  std::printf("[%5lld ms] service registered %zu endpoints (each fsync'd before its ack), then got kill -9\n",
              static_cast<long long>(duration_cast<milliseconds>(steady_clock::now() - started).count()),
              acked.size());

  auto spool = zkspool::Spool::Open(dir, Quiet());
  if (!spool.ok()) {
    std::printf("reopen failed: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  size_t intact = 0;
  for (const auto& [i, seq] : acked) {
    auto got = (*spool)->GetPending(seq);
    if (got.ok() && got->intent.path == Registration(i).path && got->intent.data == Registration(i).data) ++intact;
  }
  auto stats = (*spool)->Stats();
  std::printf("[reopen ] spool holds %llu pending intents (%llu bytes); %zu of %zu acknowledged ones intact\n",
              static_cast<unsigned long long>(stats->pending_count),
              static_cast<unsigned long long>(stats->pending_bytes), intact, acked.size());
  if (stats->pending_count > acked.size()) {
    std::printf("          (%llu more were durable, but the kill came before their ack reached the caller)\n",
                static_cast<unsigned long long>(stats->pending_count - acked.size()));
  }
  auto first = (*spool)->ReadPending(0, 3);
  for (const auto& r : *first) {
    std::printf("          seq %-6llu %s %s %s\n", static_cast<unsigned long long>(r.seq), zkspool::OpName(r.intent.op),
                r.intent.path.c_str(), r.intent.data.c_str());
  }

  // What the reconciler will do once ZooKeeper answers: apply in order, then compact.
  std::vector<uint64_t> batch;
  for (uint64_t from = 0;;) {
    auto chunk = (*spool)->ReadPending(from, 1000);
    if (!chunk.ok() || chunk->empty()) break;
    batch.clear();
    for (const auto& r : *chunk) batch.push_back(r.seq);
    if (!(*spool)->MarkApplied(batch).ok()) return 1;
    from = batch.back() + 1;
  }
  stats = (*spool)->Stats();
  std::printf("[apply  ] marked everything applied: %llu pending, %llu registered, next seq %llu\n",
              static_cast<unsigned long long>(stats->pending_count),
              static_cast<unsigned long long>(stats->registered_count),
              static_cast<unsigned long long>(stats->next_sequence));

  zkspool::Intent bad = Registration(0);
  bad.path = "/services//oops";
  std::printf("[refuse ] bad input: %s\n", (*spool)->Append(bad).status().ToString().c_str());

  bool ok = !acked.empty() && intact == acked.size();
  std::printf("verdict: %s\n", ok ? "every acknowledged registration survived kill -9" : "LOST ACKNOWLEDGED DATA");
  spool->reset();
  std::filesystem::remove_all(argc > 1 ? dir : scratch);
  return ok ? 0 : 1;
}
