// zkspool-agent: holds a host's registrations in a Registrar for services not written in C++,
// driven by a registrations file (reloaded on SIGHUP) and/or JSON lines on stdin. See
// docs/agent.md.
#pragma once

#include <chrono>
#include <string>

#include "zkspool/registrar.h"

namespace zkspool::agent {

struct AgentOptions {
  RegistrarOptions registrar;
  std::string registrations_file;  // empty: none
  std::string metrics_textfile;    // empty: none
  std::chrono::milliseconds metrics_interval{5000};
  std::string metrics_labels;      // Prometheus label text for every sample (ParseMetricsLabels)
  // SIGTERM/SIGINT end the ZooKeeper session (ephemeral nodes go at once) instead of keeping it
  // for a restart within the session timeout. A "leave" request does the same for one exit.
  bool leave_on_terminate = false;
  std::string http;  // control API address: "HOST:PORT" or "unix:PATH"; empty: off
  // GET /v1/health answers 503 once the oldest pending intent is older than this.
  std::chrono::milliseconds health_max_pending_age{30'000};
};

// Exit statuses, also documented in --help.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,       // bad command line or registrations file at start
  kExitCorruption = 3,  // the spool failed its checks
  kExitSpoolInUse = 4,  // another process owns the spool
  kExitError = 5,       // anything else (I/O error, ...)
};

// Runs the agent until SIGTERM, SIGINT or a leave request, then closes the Registrar (keeping
// the session for a restart, or ending it after a leave request or with leave_on_terminate) and
// returns kExitOk; returns another ExitCode if it cannot start. Blocks SIGTERM, SIGINT and
// SIGHUP in the calling thread (and so in every thread it starts); call it from main() before
// any other thread exists. Reads requests from stdin (and HTTP, with options.http) and writes
// events to stdout.
int RunAgent(AgentOptions options);

}  // namespace zkspool::agent
