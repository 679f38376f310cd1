// zkspoolctl stats: the spool's health in one screen.
#include <CLI/CLI.hpp>

#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

struct StatsArgs {
  std::string spool;
  bool json = false;
};

int RunStats(const StatsArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  const int64_t now = NowMs();
  auto facts = ReadFacts(*reader, now, exit);
  if (!facts) return exit;
  const zkspool::SpoolStats& stats = facts->stats;
  const uint64_t disk = reader->DiskBytes();

  if (args.json) {
    Json j;
    j["spool"] = args.spool;
    j["format_version"] = stats.format_version;
    j["pending_count"] = stats.pending_count;
    j["pending_bytes"] = stats.pending_bytes;
    j["oldest_pending_age_ms"] = stats.oldest_pending_age ? Json(stats.oldest_pending_age->count()) : Json(nullptr);
    j["next_sequence"] = stats.next_sequence;
    j["registered_count"] = stats.registered_count;
    j["expired_count"] = stats.expired_count;
    j["failed_count"] = stats.failed_count;
    j["session_id"] = facts->session_id ? Json(FormatSessionId(*facts->session_id)) : Json(nullptr);
    j["owned_session_count"] = facts->owned_sessions.size();
    j["disk_bytes"] = disk;
    std::cout << JsonLine(j) << '\n';
    return kExitOk;
  }
  Table table({{"spool"}, {args.spool}});
  table.Add({"format version", std::to_string(stats.format_version)});
  table.Add({"pending", std::to_string(stats.pending_count) + " intents, " + FormatBytes(stats.pending_bytes)});
  table.Add({"oldest pending", stats.oldest_pending_age ? FormatAge(stats.oldest_pending_age->count()) : "-"});
  table.Add({"next sequence", std::to_string(stats.next_sequence)});
  table.Add({"registered", std::to_string(stats.registered_count) + " nodes"});
  table.Add({"expired", std::to_string(stats.expired_count) + " intents (lifetime)"});
  table.Add({"failed", std::to_string(stats.failed_count) + " intents"});
  table.Add({"session", facts->session_id ? FormatSessionId(*facts->session_id) : "-"});
  table.Add({"owned sessions", std::to_string(facts->owned_sessions.size())});
  table.Add({"on disk", FormatBytes(disk)});
  table.Print(std::cout);
  return kExitOk;
}

}  // namespace

void AddStats(CLI::App& app, Command& run) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* sub = app.add_subcommand("stats", "Counts, ages, session and size of a spool (read-only, works live)");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  sub->add_flag("--json", args->json, "one JSON object instead of the table");
  sub->callback([args, &run] { run = [args] { return RunStats(*args); }; });
}

}  // namespace zkspoolctl
