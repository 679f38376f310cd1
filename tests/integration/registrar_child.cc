// A process that owns a spool through a Registrar, for tests that kill -9 it or restart it.
// Registers /svc/n0 .. /svc/n<N-1> (ephemeral, data "v<i>"), waits until they are applied, prints
// "applied <session id>" and then idles until it is killed, or until it reads the line
// "close-keep-session" on stdin: then it calls Close(kKeepSession), as a service does before a
// planned restart, and exits 0 (1 if Close failed).
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "zkspool/registrar.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SPOOL HOSTS COUNT SESSION_TIMEOUT_MS\n", argv[0]);
    return 2;
  }
  zkspool::RegistrarOptions options;
  options.spool_dir = argv[1];
  options.hosts = argv[2];
  options.session_timeout = std::chrono::milliseconds(std::stoi(argv[4]));
  auto registrar = zkspool::Registrar::Open(options);
  if (!registrar.ok()) {
    std::fprintf(stderr, "%s\n", registrar.status().ToString().c_str());
    return 1;
  }
  const int count = std::stoi(argv[3]);
  uint64_t last = 0;
  for (int i = 0; i < count; ++i) {
    auto seq = (*registrar)->Register("/svc/n" + std::to_string(i), "v" + std::to_string(i));
    if (!seq.ok()) return 1;
    last = *seq;
  }
  for (uint64_t seq = 1; seq <= last; ++seq) {
    auto outcome = (*registrar)->WaitApplied(seq, std::chrono::seconds(60));
    if (!outcome.ok() && outcome.status().code() != zkspool::StatusCode::kNotFound) return 1;
  }
  std::printf("applied %lld\n", static_cast<long long>((*registrar)->Stats().session_id));
  std::fflush(stdout);
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "close-keep-session") {
      return (*registrar)->Close(zkspool::Registrar::CloseMode::kKeepSession).ok() ? 0 : 1;
    }
  }
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // stdin closed: wait for the kill
}
