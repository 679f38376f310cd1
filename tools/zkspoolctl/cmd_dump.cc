// zkspoolctl dump: every record as JSON lines with the data base64-encoded, for support
// bundles. The session password is never part of it.
#include <CLI/CLI.hpp>

#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

constexpr size_t kChunk = 4096;

struct DumpArgs {
  std::string spool;
  bool json = true;
};

int RunDump(const DumpArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  const int64_t now = NowMs();
  auto facts = ReadFacts(*reader, now, exit);
  if (!facts) return exit;
  const zkspool::SpoolStats& stats = facts->stats;

  Json meta;
  meta["kind"] = "meta";
  meta["spool"] = args.spool;
  meta["format_version"] = stats.format_version;
  meta["next_sequence"] = stats.next_sequence;
  meta["expired_count"] = stats.expired_count;
  meta["session_id"] = facts->session_id ? Json(FormatSessionId(*facts->session_id)) : Json(nullptr);
  meta["owned_sessions"] = Json::array();
  for (int64_t id : facts->owned_sessions) meta["owned_sessions"].push_back(FormatSessionId(id));
  meta["dumped_at_ms"] = now;
  std::cout << JsonLine(meta) << '\n';

  auto line = [](const char* kind, Json body) {
    Json j;
    j["kind"] = kind;
    j.update(body);
    std::cout << JsonLine(j) << '\n';
  };
  for (uint64_t from = 0;;) {
    auto chunk = reader->ReadPending(from, kChunk);
    if (!chunk.ok()) return Fail(chunk.status());
    for (const auto& record : *chunk) line("pending", IntentJson(record, now, true));
    if (chunk->size() < kChunk) break;
    from = chunk->back().seq + 1;
  }
  for (std::string after;;) {
    auto chunk = reader->ReadRegistered(after, kChunk);
    if (!chunk.ok()) return Fail(chunk.status());
    for (const auto& record : *chunk) line("registered", IntentJson(record, now, true));
    if (chunk->size() < kChunk) break;
    after = chunk->back().intent.path;
  }
  for (uint64_t from = 0;;) {
    auto chunk = reader->ReadFailed(from, kChunk);
    if (!chunk.ok()) return Fail(chunk.status());
    for (const auto& failed : *chunk) {
      Json j = IntentJson(failed.record, now, true);
      j["reason"] = failed.reason;
      line("failed", std::move(j));
    }
    if (chunk->size() < kChunk) break;
    from = chunk->back().record.seq + 1;
  }
  return std::cout.flush() ? kExitOk : Fail("writing the dump failed", kExitError);
}

}  // namespace

void AddDump(CLI::App& app, Command& run) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* sub = app.add_subcommand(
      "dump", "Every record as JSON lines, data base64-encoded, for support bundles (read-only, works live)");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  sub->add_flag("--json", args->json, "accepted for symmetry: dump always writes JSON lines");
  sub->callback([args, &run] { run = [args] { return RunDump(*args); }; });
}

}  // namespace zkspoolctl
