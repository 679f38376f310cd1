// zkspool-agent: see agent.h and docs/agent.md.
#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "agent.h"
#include "regular_file.h"

int main(int argc, char** argv) {
  using namespace zkspool;
  // Started with stdin, stdout or stderr closed, the spool's files would get those numbers and
  // requests would be read from, and events written into, the database.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) return agent::kExitError;
  }
  agent::AgentOptions options;
  std::string auth;
  std::string durability = "sync";
  std::string acl = "open";
  std::string log_level = "info";
  int64_t session_timeout_ms = 10'000;
  int64_t default_ttl_ms = 0;
  int64_t metrics_interval_ms = 5'000;

  CLI::App app{"zkspool-agent: keeps this host's ZooKeeper registrations through ZooKeeper outages.\n"
               "Requests are JSON lines on stdin, events JSON lines on stdout (docs/agent.md)."};
  app.add_option("--spool", options.registrar.spool_dir, "Spool directory (created if missing)")->required();
  app.add_option("--zk", options.registrar.hosts, "ZooKeeper connect string host:port,...[/chroot]")->required();
  app.add_option("--registrations", options.registrations_file,
                 "JSON file of the registrations this host holds; applied on start and on SIGHUP");
  app.add_option("--session-timeout", session_timeout_ms, "Session timeout in ms")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  app.add_option("--durability", durability, "sync: fsync every intent; buffered: survive only a crash of the agent")
      ->capture_default_str()->check(CLI::IsMember({"sync", "buffered"}));
  app.add_option("--auth", auth, "Digest credentials: digest:USER:PASS (visible in ps; prefer --auth-file)");
  std::string auth_file;
  app.add_option("--auth-file", auth_file, "File holding digest:USER:PASS");
  app.add_option("--acl", acl,
                 "ACL of created nodes: open; creator-all or creator-all-world-read (need --auth)")
      ->capture_default_str()->check(CLI::IsMember({"open", "creator-all", "creator-all-world-read"}));
  app.add_option("--default-ttl", default_ttl_ms, "Spool TTL in ms for intents that give none; 0 = none")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--metrics-textfile", options.metrics_textfile,
                 "Write Prometheus metrics to this file (atomically) for node_exporter's textfile collector");
  app.add_option("--metrics-interval", metrics_interval_ms, "Metrics file refresh in ms")
      ->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{3'600'000}));
  app.add_option("--log-level", log_level, "Log level on stderr")
      ->capture_default_str()->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.footer(
      "Exit status: 0 closed on SIGTERM/SIGINT; 2 bad arguments or registrations file; 3 spool corrupt;\n"
      "4 spool in use by another process; 5 other error.\n"
      "Signals: SIGHUP reloads the registrations file; SIGTERM/SIGINT close the session and exit.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : agent::kExitUsage;
  }

  auto log = spdlog::stderr_color_mt("zkspool-agent");
  log->set_level(spdlog::level::from_str(log_level));
  options.registrar.spool.logger = log;
  options.registrar.spool.durability = durability == "sync" ? Durability::kSync : Durability::kBuffered;
  options.registrar.session_timeout = std::chrono::milliseconds(session_timeout_ms);
  options.registrar.default_ttl = std::chrono::milliseconds(default_ttl_ms);
  options.metrics_interval = std::chrono::milliseconds(metrics_interval_ms);
  if (!auth_file.empty()) {
    // Read like the registrations file: a FIFO or /dev/zero here must not hang or exhaust us.
    Result<std::string> text = agent::ReadRegularFile(auth_file, 4096, "--auth-file " + auth_file);
    if (!text.ok()) {
      log->error("{}", text.status().message());
      return agent::kExitUsage;
    }
    auth = text->substr(0, text->find('\n'));
  }
  if (!auth.empty()) {
    constexpr std::string_view kScheme = "digest:";
    if (!auth.starts_with(kScheme) || auth.find(':', kScheme.size()) == std::string::npos) {
      log->error("--auth must be digest:USER:PASS");
      return agent::kExitUsage;
    }
    options.registrar.digest_auth = auth.substr(kScheme.size());
  }
  options.registrar.acl = acl == "creator-all"              ? AclChoice::kCreatorAll
                          : acl == "creator-all-world-read" ? AclChoice::kCreatorAllWorldRead
                                                            : AclChoice::kOpen;
  return agent::RunAgent(std::move(options));
}
