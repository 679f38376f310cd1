// The agent's command line, config file, durations, metrics labels, health rule and the HTTP
// API's nesting check, on their own.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <variant>

#include "agent_log.h"
#include "agent_metrics.h"
#include "build_version.h"
#include "cli_options.h"
#include "duration.h"
#include "health.h"
#include "http_api.h"
#include "support/temp_dir.h"

namespace zkspool::agent {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ReadsUnitsCombinationsAndBareMilliseconds) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120'000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(*ParseDuration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(*ParseDuration("4000"), milliseconds(4000));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  for (const char* bad : {"", "s", "-5s", "5x", "1.5s", "1m5", "10 s", "99999999999999999999h", "9223372036854775807h"}) {
    auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("is not a duration"), std::string::npos);
  }
  for (int64_t ms : {0, 1, 999, 1000, 90'000, 3'600'000, 3'723'004}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << FormatDuration(milliseconds(ms));
  }
  EXPECT_EQ(FormatDuration(milliseconds(90'500)), "1m30s500ms");
}

TEST(MetricsLabelsTest, FormatsAndEscapesValuesAndNamesTheBadPair) {
  EXPECT_EQ(*ParseMetricsLabels(""), "");
  EXPECT_EQ(*ParseMetricsLabels("dc=eu-1,role=web"), R"(dc="eu-1",role="web")");
  EXPECT_EQ(*ParseMetricsLabels(R"(note=a"b\c)"), R"(note="a\"b\\c")");
  EXPECT_EQ(*ParseMetricsLabels("empty="), R"(empty="")");
  for (const char* bad : {"novalue", "=x", "1dc=x", "__x=1", "a-b=1", "dc=1,dc=2", "state=up", "a=1,,b=2"}) {
    EXPECT_FALSE(ParseMetricsLabels(bad).ok()) << bad;
  }
  EXPECT_NE(ParseMetricsLabels("dc=1,dc=2").status().message().find("\"dc\" is given twice"), std::string::npos);
}

TEST(AgentMetricsTest, BuildInfoCarriesTheVersionAndTheLabels) {
  RegistrarStats stats;
  std::string text = RenderAgentMetrics(stats, R"(dc="eu1")");
  EXPECT_NE(text.find("# TYPE zkspool_build_info gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find(std::string(R"(zkspool_build_info{dc="eu1",version=")") + ProjectVersion() + "\",git=\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(zkspool_pending_intents{dc="eu1"} 0)"), std::string::npos) << text;
  EXPECT_NE(RenderAgentMetrics(stats, "").find(R"(zkspool_build_info{version=")"), std::string::npos);
}

TEST(HealthTest, ConnectedNothingOldNothingFailedIsHealthyAndEachProblemIsNamed) {
  RegistrarStats stats;
  stats.session_state = SessionState::kConnected;
  stats.spool.pending_count = 2;
  stats.spool.oldest_pending_age = milliseconds(5'000);
  Health ok = CheckHealth(stats, milliseconds(30'000));
  EXPECT_TRUE(ok.healthy);
  EXPECT_TRUE(ok.problems.empty());
  EXPECT_EQ(ok.ToJson(stats)["healthy"], true);

  stats.session_state = SessionState::kConnecting;
  stats.last_error = "cannot connect";
  stats.spool.oldest_pending_age = milliseconds(45'000);
  stats.spool.failed_count = 3;
  Health bad = CheckHealth(stats, milliseconds(30'000));
  EXPECT_FALSE(bad.healthy);
  ASSERT_EQ(bad.problems.size(), 3u);
  EXPECT_EQ(bad.problems[0], "the ZooKeeper session is connecting (cannot connect)");
  EXPECT_EQ(bad.problems[1], "the oldest of 2 pending intents has waited 45s (more than 30s)");
  EXPECT_NE(bad.problems[2].find("3 intents are parked as failed"), std::string::npos);
  auto json = bad.ToJson(stats);
  EXPECT_EQ(json["healthy"], false);
  EXPECT_EQ(json["failed"], 3);
  EXPECT_NE(json["reason"].get<std::string>().find("; the oldest"), std::string::npos);
}

TEST(JsonDepthTest, CountsNestingOutsideStringsOnly) {
  EXPECT_FALSE(JsonNestsDeeperThan(R"({"a":[1,{"b":2}]})", 3));
  EXPECT_TRUE(JsonNestsDeeperThan(R"({"a":[1,{"b":[2]}]})", 3));
  EXPECT_FALSE(JsonNestsDeeperThan(R"({"a":"[[[[[[[[\"[[[["})", 1));
  EXPECT_TRUE(JsonNestsDeeperThan(std::string(100'000, '['), 16));
}

// With stderr being the journal stream (JOURNAL_STREAM names its device and inode), every line
// starts with its syslog priority for journald.
TEST(AgentLogTest, UnderJournaldLinesStartWithTheirPriority) {
  testing::TempDir dir;
  const std::string file = dir.Sub("stderr");
  const int saved = ::dup(STDERR_FILENO);
  const int out = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(out, 0);
  ::dup2(out, STDERR_FILENO);
  struct stat st;
  ::fstat(STDERR_FILENO, &st);
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
  const bool journal = StderrIsJournal();
  auto log = MakeAgentLogger("info");
  log->warn("spool is slow");
  log->error("disk is gone");
  log->info("all well");
  log->debug("not shown");
  log->flush();
  // Errors found before the logger exists (the command line) carry the error priority too.
  std::vector<std::string> args = {"zkspool-agent", "--spool", "/s", "--zk", "h:1", "--session-timeout", "1x"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  args = {"zkspool-agent", "--zk", "h:1"};
  argv.clear();
  for (std::string& a : args) argv.push_back(a.data());
  ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  std::cerr.flush();
  ::unsetenv("JOURNAL_STREAM");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(out);
  EXPECT_TRUE(journal);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(),
            "<4>spool is slow\n<3>disk is gone\n<6>all well\n"
            "<3>zkspool-agent: --session-timeout: \"1x\" is not a duration: write a number with a unit (ms, s, m, h), "
            "e.g. 500ms, 10s, 1m30s (see zkspool-agent --help)\n"
            "<3>--spool is required\n<3>Run with --help for more information.\n");
  EXPECT_FALSE(StderrIsJournal()) << "without JOURNAL_STREAM";
}

class CommandLineTest : public ::testing::Test {
 protected:
  std::variant<CommandLine, int> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "zkspool-agent");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  }
  testing::TempDir dir_;
};

TEST_F(CommandLineTest, EveryFlagCanComeFromTheConfigFileAndTheCommandLineWins) {
  const std::string config = dir_.Sub("agent.toml");
  const std::string auth = dir_.Sub("auth");
  std::ofstream(auth) << "digest:svc:secret\n";
  std::ofstream(config) << "spool = \"/var/lib/zkspool-agent\"\n"
                           "zk = \"zk1:2181,zk2:2181/prod\"\n"
                           "registrations = \"/etc/zkspool-agent/registrations.json\"\n"
                           "session-timeout = \"15s\"\n"
                           "durability = \"buffered\"\n"
                           "auth-file = \"" << auth << "\"\n"
                           "acl = \"creator-all-world-read\"\n"
                           "default-ttl = \"1h\"\n"
                           "max-pending-intents = 5000\n"
                           "max-pending-bytes = \"64MiB\"\n"
                           "metrics-textfile = \"/var/lib/prometheus/node-exporter/zkspool.prom\"\n"
                           "metrics-interval = \"10s\"\n"
                           "metrics-labels = \"dc=eu1\"\n"
                           "http = \"unix:/run/zkspool-agent/api.sock\"\n"
                           "health-max-pending-age = \"2m\"\n"
                           "leave-on-terminate = true\n"
                           "log-level = \"warn\"\n";
  auto parsed = Parse({"--config", config, "--session-timeout", "20s"});
  ASSERT_TRUE(std::holds_alternative<CommandLine>(parsed));
  const CommandLine& c = std::get<CommandLine>(parsed);
  const AgentOptions& o = c.options;
  EXPECT_EQ(o.registrar.spool_dir, "/var/lib/zkspool-agent");
  EXPECT_EQ(o.registrar.hosts, "zk1:2181,zk2:2181/prod");
  EXPECT_EQ(o.registrations_file, "/etc/zkspool-agent/registrations.json");
  EXPECT_EQ(o.registrar.session_timeout, milliseconds(20'000)) << "the command line wins";
  EXPECT_EQ(o.registrar.spool.durability, Durability::kBuffered);
  EXPECT_EQ(o.registrar.digest_auth, "svc:secret");
  EXPECT_EQ(o.registrar.acl, AclChoice::kCreatorAllWorldRead);
  EXPECT_EQ(o.registrar.default_ttl, milliseconds(3'600'000));
  EXPECT_EQ(o.registrar.spool.max_pending_intents, 5000u);
  EXPECT_EQ(o.registrar.spool.max_pending_bytes, 64u << 20);
  EXPECT_EQ(o.metrics_textfile, "/var/lib/prometheus/node-exporter/zkspool.prom");
  EXPECT_EQ(o.metrics_interval, milliseconds(10'000));
  EXPECT_EQ(o.metrics_labels, R"(dc="eu1")");
  EXPECT_EQ(o.http, "unix:/run/zkspool-agent/api.sock");
  EXPECT_EQ(o.health_max_pending_age, milliseconds(120'000));
  EXPECT_TRUE(o.leave_on_terminate);
  EXPECT_EQ(c.log_level, "warn");

  // A misspelt key is an error, not a setting silently left at its default.
  std::ofstream(config, std::ios::trunc) << "spool = \"/s\"\nzk = \"h:1\"\nsesion-timeout = \"15s\"\n";
  auto misspelt = Parse({"--config", config});
  ASSERT_TRUE(std::holds_alternative<int>(misspelt));
  EXPECT_EQ(std::get<int>(misspelt), kExitUsage);
}

TEST_F(CommandLineTest, BadValuesAreUsageErrorsAndHelpAndVersionExitZero) {
  const std::vector<std::string> base = {"--spool", "/s", "--zk", "h:1"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Parse(args);
  };
  EXPECT_TRUE(std::holds_alternative<CommandLine>(with({})));
  EXPECT_EQ(std::get<CommandLine>(with({})).options.registrar.session_timeout, milliseconds(10'000));
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--session-timeout", "ten"}, {"--session-timeout", "0"}, {"--metrics-interval", "5ms"},
        {"--metrics-labels", "1=x"}, {"--max-pending-intents", "0"}, {"--auth", "user:pass"},
        {"--auth-file", dir_.Sub("missing")}, {"--durability", "maybe"}, {"--config", dir_.Sub("missing.toml")},
        {"--max-pending-intents", "-1"}, {"--max-pending-intents", "010"}, {"--max-pending-intents", "0x10"},
        {"--max-pending-bytes", "-1"}, {"--max-pending-bytes", "-1GiB"}, {"--http", "127.0.0.1:99999"},
        {"--http", "nonsense"}}) {
    auto parsed = with(bad);
    ASSERT_TRUE(std::holds_alternative<int>(parsed)) << bad[0] << " " << bad[1];
    EXPECT_EQ(std::get<int>(parsed), kExitUsage) << bad[0] << " " << bad[1];
  }
  EXPECT_EQ(std::get<CommandLine>(with({"--max-pending-intents", "10"})).options.registrar.spool.max_pending_intents, 10u);
  EXPECT_EQ(std::get<CommandLine>(with({"--max-pending-bytes", "2MiB"})).options.registrar.spool.max_pending_bytes,
            uint64_t{2} << 20);
  EXPECT_EQ(std::get<int>(Parse({"--zk", "h:1"})), kExitUsage) << "--spool is required";
  EXPECT_EQ(std::get<int>(Parse({"--version"})), kExitOk);
  EXPECT_EQ(std::get<int>(Parse({"--help"})), kExitOk);
}

}  // namespace
}  // namespace zkspool::agent
