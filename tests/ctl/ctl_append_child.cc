// Child of ctl_test: owns a spool and keeps appending and applying until it is killed, so the
// test can run zkspoolctl's read commands against a spool that is live in another process.
// Prints "O" once the spool is open.
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <string>

#include <spdlog/logger.h>

#include "zkspool/spool.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SPOOL_DIR\n", argv[0]);
    return 2;
  }
  zkspool::SpoolOptions options;
  options.durability = zkspool::Durability::kBuffered;
  options.compact_after_removed = 500;  // compactions happen while the tool reads
  options.logger = std::make_shared<spdlog::logger>("quiet");
  auto spool = zkspool::Spool::Open(argv[1], options);
  if (!spool.ok()) {
    std::fprintf(stderr, "open failed: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  if (!(*spool)->SaveSession({0x1234, std::string(16, 'p')}).ok()) return 1;
  std::printf("O\n");
  std::fflush(stdout);
  std::deque<uint64_t> pending;
  for (uint64_t i = 0;; ++i) {
    zkspool::Intent intent;
    intent.path = "/live/n" + std::to_string(i % 50);
    intent.data = "payload-" + std::to_string(i);
    auto seq = (*spool)->Append(intent);
    if (!seq.ok()) {
      std::fprintf(stderr, "append failed: %s\n", seq.status().ToString().c_str());
      return 1;
    }
    pending.push_back(*seq);
    if (pending.size() > 20) {
      std::vector<uint64_t> batch(pending.begin(), pending.begin() + 10);
      pending.erase(pending.begin(), pending.begin() + 10);
      if (!(*spool)->MarkApplied(batch).ok()) return 1;
    }
    if (i % 64 == 0) ::usleep(1000);  // leave the shared CPUs to the tool now and then
  }
}
