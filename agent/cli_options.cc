#include "cli_options.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "agent_log.h"
#include "agent_metrics.h"
#include "build_version.h"
#include "duration.h"
#include "http_api.h"
#include "regular_file.h"

namespace zkspool::agent {
namespace {

// A duration option: kept as text while CLI11 parses, converted and range-checked afterwards.
struct DurationOption {
  const char* flag;
  std::string text;
  std::chrono::milliseconds min, max;
  std::chrono::milliseconds* target;
};

Status ConvertDuration(const DurationOption& d) {
  Result<std::chrono::milliseconds> value = ParseDuration(d.text);
  if (!value.ok()) return Status::InvalidArgument(fmt::format("{}: {}", d.flag, value.status().message()));
  if (*value < d.min || *value > d.max) {
    return Status::InvalidArgument(fmt::format("{}: {} is not between {} and {}", d.flag, d.text,
                                               FormatDuration(d.min), FormatDuration(d.max)));
  }
  *d.target = *value;
  return Status::Ok();
}

// "digest:USER:PASS" from the first line of `file`; a file that cannot be read is an error, never
// an agent without credentials. Read like the registrations file: a FIFO or /dev/zero here must
// not hang or exhaust the agent.
std::string ReadAuthFile(const std::string& file) {
  Result<std::string> text = ReadRegularFile(file, 4096, "--auth-file " + file);
  if (!text.ok()) throw CLI::ValidationError("--auth-file", text.status().message());
  std::string line = text->substr(0, text->find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  return line;
}

// CLI11 converts integers with strtoull in base 0: "-1" wrapped to 2^64-1 (no limit at all) and
// "010" was octal 8. A count is plain decimal, optionally followed by a unit the option takes.
std::string PlainDecimal(std::string& text) {
  const bool digit_first = !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]));
  const bool leading_zero = text.size() > 1 && text[0] == '0';
  if (digit_first && !leading_zero) return "";
  return "\"" + text + "\" is not a plain decimal number (no sign, no leading zero)";
}

// CLI11 reads --config with a plain std::ifstream to its end: a FIFO without a writer hung
// start-up and /dev/zero ran the agent out of memory. So every --config given is checked here
// first, as the agent reads any other file it is pointed at.
constexpr size_t kMaxConfigBytes = 1 << 20;

Status CheckConfigFiles(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string file;
    if (arg == "--config" && i + 1 < argc) {
      file = argv[++i];
    } else if (arg.starts_with("--config=")) {
      file = arg.substr(9);
    } else {
      continue;
    }
    Result<std::string> text = ReadRegularFile(file, kMaxConfigBytes, "--config " + file);
    if (!text.ok()) return text.status();
  }
  return Status::Ok();
}

}  // namespace

std::variant<CommandLine, int> ParseCommandLine(int argc, char** argv) {
  CommandLine out;
  AgentOptions& options = out.options;
  RegistrarOptions& registrar = options.registrar;
  std::string auth;
  std::string durability = "sync";
  std::string acl = "open";
  std::string labels;
  std::vector<DurationOption> durations = {
      {"--session-timeout", "10s", std::chrono::milliseconds(1), std::chrono::hours(1), &registrar.session_timeout},
      {"--default-ttl", "0", std::chrono::milliseconds(0), kMaxSpoolTtl, &registrar.default_ttl},
      {"--metrics-interval", "5s", std::chrono::milliseconds(100), std::chrono::hours(1), &options.metrics_interval},
      {"--reconnect-jitter", "1s", std::chrono::milliseconds(0), std::chrono::hours(1), &registrar.reconnect_jitter},
      {"--health-max-pending-age", "30s", std::chrono::seconds(1), std::chrono::hours(24 * 365),
       &options.health_max_pending_age},
  };
  auto duration = [&](const char* flag) -> std::string& {
    for (DurationOption& d : durations) {
      if (std::string_view(d.flag) == flag) return d.text;
    }
    std::abort();
  };

  CLI::App app{"zkspool-agent: keeps this host's ZooKeeper registrations through ZooKeeper outages.\n"
               "Requests are JSON lines on stdin or HTTP (--http), events JSON lines on stdout (docs/agent.md)."};
  // A later occurrence overrides an earlier one, as a wrapper script that appends flags expects.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // A misspelt key in the config file is an error, as in requests and the registrations file:
  // ignored, "sesion-timeout" would leave the timeout at its default without a word.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", VersionLine("zkspool-agent"));
  app.set_config("--config", "",
                 "TOML file setting any option below by its long name, e.g.\n"
                 "spool = \"/var/lib/zkspool-agent\"\nsession-timeout = \"10s\"\n"
                 "(the command line wins over the file)");
  app.add_option("--spool", registrar.spool_dir, "Spool directory (created if missing)")->required();
  app.add_option("--zk", registrar.hosts, "ZooKeeper connect string host:port,...[/chroot]")->required();
  app.add_option("--registrations", options.registrations_file,
                 "JSON file of the registrations this host holds; applied on start and on SIGHUP");
  app.add_option("--session-timeout", duration("--session-timeout"),
                 "Session timeout (500ms, 10s, ...; a bare number is ms); a restart within it keeps ephemeral nodes")
      ->capture_default_str();
  app.add_option("--durability", durability, "sync: fsync every intent; buffered: survive only a crash of the agent")
      ->capture_default_str()->check(CLI::IsMember({"sync", "buffered"}));
  app.add_option("--auth", auth, "Digest credentials: digest:USER:PASS (visible in ps; prefer --auth-file)");
  app.add_option("--auth-file", "File whose first line is digest:USER:PASS")
      ->check(CLI::ExistingFile)
      ->each([&auth](const std::string& file) { auth = ReadAuthFile(file); });
  app.add_option("--acl", acl, "ACL of created nodes: open; creator-all or creator-all-world-read (need --auth)")
      ->capture_default_str()->check(CLI::IsMember({"open", "creator-all", "creator-all-world-read"}));
  app.add_option("--default-ttl", duration("--default-ttl"),
                 "How long an intent that gives no ttl_ms may wait in the spool; 0 = forever")
      ->capture_default_str();
  app.add_option("--max-pending-intents", registrar.spool.max_pending_intents,
                 "Refuse new intents (\"spool full\") while this many wait")
      ->capture_default_str()
      ->check(CLI::Validator(PlainDecimal, ""))
      ->check(CLI::Range(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
  app.add_option("--max-pending-bytes", registrar.spool.max_pending_bytes,
                 "Refuse new intents while the waiting ones take this much (bytes; KiB, MiB, GiB suffixes)")
      ->capture_default_str()->check(CLI::Validator(PlainDecimal, ""))->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
  app.add_option("--max-ops-per-second", registrar.max_ops_per_second,
                 "Hard ceiling on ZooKeeper operations sent per second, on top of the pacing; 0 = none")
      ->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_option("--reconnect-jitter", duration("--reconnect-jitter"),
                 "Wait a random time up to this after a reconnect before sending the backlog, so that a fleet "
                 "does not drain in lockstep")
      ->capture_default_str();
  app.add_option("--metrics-textfile", options.metrics_textfile,
                 "Write Prometheus metrics to this file (atomically) for node_exporter's textfile collector");
  app.add_option("--metrics-interval", duration("--metrics-interval"), "Metrics file refresh interval")
      ->capture_default_str();
  app.add_option("--metrics-labels", labels, "Labels for every metric sample: name=value,name=value");
  app.add_option("--http", options.http,
                 "Serve the control API on HOST:PORT (e.g. 127.0.0.1:8375; port 0 picks one) or unix:PATH (mode 0660)");
  app.add_option("--health-max-pending-age", duration("--health-max-pending-age"),
                 "GET /v1/health answers 503 once an intent has waited longer than this")
      ->capture_default_str();
  app.add_flag("--leave-on-terminate", options.leave_on_terminate,
               "SIGTERM/SIGINT end the ZooKeeper session (ephemeral nodes go at once) instead of keeping it "
               "for a restart");
  app.add_option("--log-level", out.log_level, "Log level on stderr")
      ->capture_default_str()->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.footer(
      "Exit status: 0 stopped by SIGTERM/SIGINT or a leave request; 2 bad arguments or registrations file;\n"
      "3 spool corrupt; 4 spool in use by another process; 5 other error.\n"
      "Signals: SIGHUP reloads the registrations file; SIGTERM/SIGINT stop, keeping the session for a\n"
      "restart within the session timeout (unless --leave-on-terminate).");
  // Before the logger exists: under journald these need its priority prefix too, or
  // `journalctl -p warning` hides why the unit failed.
  const char* error_prefix = StderrIsJournal() ? "<3>" : "";
  auto usage = [error_prefix](const std::string& message) {
    std::cerr << error_prefix << "zkspool-agent: " << message << " (see zkspool-agent --help)\n";
    return kExitUsage;
  };
  if (Status s = CheckConfigFiles(argc, argv); !s.ok()) return usage(s.message());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e) == 0 ? kExitOk : kExitUsage;  // --help, --version
    std::ostringstream text;
    app.exit(e, text, text);
    std::string line;
    for (std::istringstream lines(text.str()); std::getline(lines, line);) std::cerr << error_prefix << line << '\n';
    return kExitUsage;
  }

  for (const DurationOption& d : durations) {
    if (Status s = ConvertDuration(d); !s.ok()) return usage(s.message());
  }
  Result<std::string> parsed_labels = ParseMetricsLabels(labels);
  if (!parsed_labels.ok()) return usage("--metrics-labels: " + parsed_labels.status().message());
  options.metrics_labels = *parsed_labels;
  if (!options.http.empty()) {
    if (Status s = CheckHttpAddress(options.http); !s.ok()) return usage(s.message());
  }
  registrar.spool.durability = durability == "sync" ? Durability::kSync : Durability::kBuffered;
  if (!auth.empty()) {
    constexpr std::string_view kScheme = "digest:";
    if (!auth.starts_with(kScheme) || auth.find(':', kScheme.size()) == std::string::npos) {
      return usage("--auth must be digest:USER:PASS");
    }
    registrar.digest_auth = auth.substr(kScheme.size());
  }
  registrar.acl = acl == "creator-all"              ? AclChoice::kCreatorAll
                  : acl == "creator-all-world-read" ? AclChoice::kCreatorAllWorldRead
                                                    : AclChoice::kOpen;
  return out;
}

}  // namespace zkspool::agent
