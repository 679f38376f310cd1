// Child of reconcile_crash_test: owns the spool through a Registrar and registers, updates and
// deregisters random paths until it is killed. Reports on stdout, one write(2) per line:
//   T <op> <path> <data>   about to spool this (the kill may land before the ack)
//   A <seq>                the last T line was acknowledged with this ticket
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "support/report_line.h"
#include "zkspool/registrar.h"

namespace {
using zkspool::testing::ReportLine;
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SPOOL HOSTS SEED\n", argv[0]);
    return 2;
  }
  zkspool::RegistrarOptions options;
  options.spool_dir = argv[1];
  options.hosts = argv[2];
  options.session_timeout = std::chrono::milliseconds(6000);
  auto registrar = zkspool::Registrar::Open(options);
  if (!registrar.ok()) {
    std::fprintf(stderr, "%s\n", registrar.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(std::stoull(argv[3]));
  for (uint64_t n = 0;; ++n) {
    std::string path = "/rc/n" + std::to_string(rng() % 30);
    bool del = rng() % 4 == 0;
    std::string data = "d" + std::to_string(rng() % 1000000);
    ReportLine(std::string("T ") + (del ? "D " : "P ") + path + " " + (del ? "-" : data));
    auto seq = del ? (*registrar)->Deregister(path) : (*registrar)->Register(path, data);
    if (!seq.ok()) {
      std::fprintf(stderr, "%s\n", seq.status().ToString().c_str());
      return 1;
    }
    ReportLine("A " + std::to_string(*seq));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
  }
}
