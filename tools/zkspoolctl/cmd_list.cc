// zkspoolctl pending / registered: the intents waiting to be applied, and the desired
// registered set, as tables or JSON lines.
#include <CLI/CLI.hpp>

#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

constexpr size_t kChunk = 4096;  // records read at a time: bounds memory on a huge spool

struct ListArgs {
  std::string spool;
  std::string prefix;
  size_t limit = 0;
  bool failed = false;
  bool json = false;
};

std::string ExpiresIn(const zkspool::Intent& in, int64_t now) {
  if (in.expires_at_ms == 0) return "never";
  if (in.expires_at_ms <= now) return "expired";
  return FormatAge(in.expires_at_ms - now);
}

int RunPending(const ListArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  const int64_t now = NowMs();
  Table table({{"SEQ", true}, {"OP"}, {"PATH"}, {"MODE"}, {"DATA", true}, {"AGE", true}, {"EXPIRES IN", true}});
  if (args.failed) table = Table({{"SEQ", true}, {"OP"}, {"PATH"}, {"MODE"}, {"DATA", true}, {"AGE", true}, {"REASON"}});
  size_t shown = 0, matching = 0;
  for (uint64_t from = 0;;) {
    std::vector<zkspool::SpooledIntent> chunk;
    std::vector<std::string> reasons;
    if (args.failed) {
      auto failed = reader->ReadFailed(from, kChunk);
      if (!failed.ok()) return Fail(failed.status());
      for (auto& f : *failed) {
        chunk.push_back(std::move(f.record));
        reasons.push_back(std::move(f.reason));
      }
    } else {
      auto pending = reader->ReadPending(from, kChunk);
      if (!pending.ok()) return Fail(pending.status());
      chunk = std::move(pending).value();
    }
    for (size_t i = 0; i < chunk.size(); ++i) {
      const zkspool::SpooledIntent& record = chunk[i];
      if (!UnderPrefix(record.intent.path, args.prefix)) continue;
      ++matching;
      if (args.limit != 0 && shown >= args.limit) continue;
      ++shown;
      if (args.json) {
        Json j = IntentJson(record, now, false);
        if (args.failed) j["reason"] = reasons[i];
        std::cout << JsonLine(j) << '\n';
        continue;
      }
      const zkspool::Intent& in = record.intent;
      table.Add({std::to_string(record.seq), zkspool::OpName(in.op), Printable(in.path), zkspool::NodeModeName(in.mode),
                 FormatBytes(in.data.size()), FormatAge(now - in.enqueued_at_ms),
                 args.failed ? Printable(reasons[i]) : ExpiresIn(in, now)});
    }
    if (chunk.size() < kChunk) break;
    from = chunk.back().seq + 1;
  }
  if (!args.json) {
    table.Print(std::cout);
    std::cout << "(" << shown << (shown == matching ? "" : " of " + std::to_string(matching)) << " "
              << (args.failed ? "failed" : "pending") << " intents)\n";
  }
  return kExitOk;
}

int RunRegistered(const ListArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  const int64_t now = NowMs();
  Table table({{"PATH"}, {"MODE"}, {"ACL"}, {"DATA", true}, {"SEQ", true}, {"SINCE", true}});
  size_t shown = 0, matching = 0;
  // Paths sort bytewise, so those that start with the subtree's root are contiguous: start just
  // before the root (not before "/svc/", which would start after "/svc"), stop once past them.
  const std::string root = SubtreeRoot(args.prefix);
  std::string after = root.empty() ? "" : root.substr(0, root.size() - 1);
  bool past = false;
  while (!past) {
    auto chunk = reader->ReadRegistered(after, kChunk);
    if (!chunk.ok()) return Fail(chunk.status());
    for (const zkspool::SpooledIntent& record : *chunk) {
      const std::string& path = record.intent.path;
      if (!root.empty() && path > root && path.compare(0, root.size(), root) != 0) {
        past = true;
        break;
      }
      if (!UnderPrefix(path, args.prefix)) continue;
      ++matching;
      if (args.limit != 0 && shown >= args.limit) continue;
      ++shown;
      const zkspool::Intent& in = record.intent;
      if (args.json) {
        Json j;
        j["path"] = in.path;
        j["mode"] = zkspool::NodeModeName(in.mode);
        j["acl"] = zkspool::AclChoiceName(in.acl);
        j["data_bytes"] = in.data.size();
        j["node_ttl_ms"] = in.node_ttl_ms;
        j["seq"] = record.seq;
        j["enqueued_at_ms"] = in.enqueued_at_ms;
        std::cout << JsonLine(j) << '\n';
        continue;
      }
      table.Add({Printable(in.path), zkspool::NodeModeName(in.mode), zkspool::AclChoiceName(in.acl),
                 FormatBytes(in.data.size()), std::to_string(record.seq), FormatAge(now - in.enqueued_at_ms)});
    }
    if (past || chunk->size() < kChunk) break;
    after = chunk->back().intent.path;
  }
  if (!args.json) {
    table.Print(std::cout);
    std::cout << "(" << shown << (shown == matching ? "" : " of " + std::to_string(matching)) << " registered nodes)\n";
  }
  return kExitOk;
}

void AddListOptions(CLI::App* sub, ListArgs& args) {
  sub->add_option("SPOOL", args.spool, "spool directory")->required();
  sub->add_option("--path", args.prefix, "only this path and the nodes under it");
  sub->add_option("--limit", args.limit, "show at most N (0: all)")->check(WholeNumber(0));
  sub->add_flag("--json", args.json, "one JSON object per line instead of the table");
}

}  // namespace

void AddPending(CLI::App& app, Command& run) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* sub = app.add_subcommand("pending", "Intents waiting to be applied, in sequence order (read-only, works live)");
  AddListOptions(sub, *args);
  sub->add_flag("--failed", args->failed, "list the failed set (parked intents and why) instead");
  sub->callback([args, &run] { run = [args] { return RunPending(*args); }; });
}

void AddRegistered(CLI::App& app, Command& run) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* sub = app.add_subcommand("registered", "The desired registered set, in path order (read-only, works live)");
  AddListOptions(sub, *args);
  sub->callback([args, &run] { run = [args] { return RunRegistered(*args); }; });
}

}  // namespace zkspoolctl
