// Child of spool_crash_test: opens the spool, then appends (and now and then marks applied) until
// it is killed. After each acknowledged operation it reports it on stdout, one line per write(2)
// so the parent never sees half a line:
//   O                                the spool is open
//   A <seq> <P|D> <path> <data hex>  Append of a put (P) or delete (D) returned this seq
//   m <seq> <seq> <seq>              about to MarkApplied these (the kill may land in between)
//   M <seq> <seq> <seq>              MarkApplied of these returned OK
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <random>
#include <string>

#include <spdlog/logger.h>

#include "support/report_line.h"
#include "zkspool/spool.h"

namespace {

using zkspool::testing::ReportLine;

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SPOOL_DIR sync|buffered SEED\n", argv[0]);
    return 2;
  }
  zkspool::SpoolOptions options;
  options.durability = std::string(argv[2]) == "sync" ? zkspool::Durability::kSync : zkspool::Durability::kBuffered;
  options.compact_after_removed = 300;
  options.logger = std::make_shared<spdlog::logger>("quiet");  // no sinks: the parent reads stdout
  auto spool = zkspool::Spool::Open(argv[1], options);
  if (!spool.ok()) {
    std::fprintf(stderr, "open failed: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  ReportLine("O");
  std::mt19937_64 rng(std::stoull(argv[3]));
  std::deque<uint64_t> mine;
  for (uint64_t i = 0;; ++i) {
    zkspool::Intent intent;
    intent.path = "/crash/n" + std::to_string(rng() % 64);
    if (rng() % 5 == 0) {
      intent.op = zkspool::Op::kDelete;
    } else {
      intent.data.resize(rng() % 400);
      for (char& c : intent.data) c = static_cast<char>(rng());
    }
    auto seq = (*spool)->Append(intent);
    if (!seq.ok()) {
      std::fprintf(stderr, "append failed: %s\n", seq.status().ToString().c_str());
      return 1;
    }
    ReportLine("A " + std::to_string(*seq) + (intent.op == zkspool::Op::kPut ? " P " : " D ") + intent.path + " " +
           Hex(intent.data));
    mine.push_back(*seq);
    if (i % 4 == 3) {
      std::vector<uint64_t> batch(mine.begin(), mine.begin() + 3);
      mine.erase(mine.begin(), mine.begin() + 3);
      const std::string seqs =
          std::to_string(batch[0]) + " " + std::to_string(batch[1]) + " " + std::to_string(batch[2]);
      ReportLine("m " + seqs);
      zkspool::Status s = (*spool)->MarkApplied(batch);
      if (!s.ok()) {
        std::fprintf(stderr, "mark applied failed: %s\n", s.ToString().c_str());
        return 1;
      }
      ReportLine("M " + seqs);
    }
  }
}
