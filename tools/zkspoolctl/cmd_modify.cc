// zkspoolctl expire / purge: the only commands that change a spool. Both open it as its owner,
// so they refuse (exit 4) while the service that owns it runs.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

constexpr size_t kChunk = 4096;

void PrintRemoved(const std::vector<zkspool::SpooledIntent>& removed, int64_t now) {
  Table table({{"SEQ", true}, {"OP"}, {"PATH"}, {"MODE"}, {"DATA", true}, {"AGE", true}});
  for (const auto& record : removed) {
    const zkspool::Intent& in = record.intent;
    table.Add({std::to_string(record.seq), zkspool::OpName(in.op), Printable(in.path), zkspool::NodeModeName(in.mode),
               FormatBytes(in.data.size()), FormatAge(now - in.enqueued_at_ms)});
  }
  table.Print(std::cout);
}

struct ExpireArgs {
  std::string spool;
};

int RunExpire(const ExpireArgs& args) {
  int exit;
  auto spool = OpenOwner(args.spool, "expire", exit);
  if (!spool) return exit;
  const int64_t now = NowMs();
  auto expired = spool->Expire(now);
  if (!expired.ok()) return Fail(expired.status());
  if (expired->empty()) {
    std::cout << "no pending intent has expired\n";
    return kExitOk;
  }
  std::cout << "expired " << expired->size() << " pending intents:\n";
  PrintRemoved(*expired, now);
  return kExitOk;
}

struct PurgeArgs {
  std::string spool;
  std::vector<uint64_t> seqs;
  std::string path;
  bool all = false;
  bool yes = false;
};

int RunPurge(const PurgeArgs& args) {
  int exit;
  auto spool = OpenOwner(args.spool, "purge", exit);
  if (!spool) return exit;
  std::vector<uint64_t> chosen;
  if (!args.seqs.empty()) {
    for (uint64_t seq : args.seqs) {
      auto record = spool->GetPending(seq);
      if (!record.ok()) return Fail(record.status());
      chosen.push_back(seq);
    }
  } else {
    for (uint64_t from = 0;;) {
      auto chunk = spool->ReadPending(from, kChunk);
      if (!chunk.ok()) return Fail(chunk.status());
      for (const auto& record : *chunk) {
        if (args.all || record.intent.path == args.path) chosen.push_back(record.seq);
      }
      if (chunk->size() < kChunk) break;
      from = chunk->back().seq + 1;
    }
  }
  if (chosen.empty()) {
    std::cout << "nothing to purge: no pending intent " << (args.all ? "" : "for " + args.path) << "\n";
    return kExitOk;
  }
  // A person at a terminal confirms; scripts (stdin not a terminal) have already decided.
  if (!args.yes && ::isatty(STDIN_FILENO) == 1) {
    return Fail("purge would remove " + std::to_string(chosen.size()) +
                    " pending intents for good (they will never reach ZooKeeper); run again with --yes to do it",
                kExitUsage);
  }
  auto removed = spool->RemovePending(chosen);
  if (!removed.ok()) return Fail(removed.status());
  std::cout << "removed " << removed->size() << " pending intents:\n";
  PrintRemoved(*removed, NowMs());
  return kExitOk;
}

}  // namespace

void AddExpire(CLI::App& app, Command& run) {
  auto args = std::make_shared<ExpireArgs>();
  CLI::App* sub = app.add_subcommand(
      "expire", "Drop pending intents whose TTL has run out (writes; needs the spool not in use)");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  sub->callback([args, &run] { run = [args] { return RunExpire(*args); }; });
}

void AddPurge(CLI::App& app, Command& run) {
  auto args = std::make_shared<PurgeArgs>();
  CLI::App* sub = app.add_subcommand(
      "purge", "Remove pending intents unapplied (writes; needs the spool not in use; asks for --yes on a terminal)");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  auto* seq = sub->add_option("--seq", args->seqs, "this pending intent (repeatable)")->check(WholeNumber(1));
  auto* path = sub->add_option("--path", args->path, "every pending intent of exactly this path");
  auto* all = sub->add_flag("--all-pending", args->all, "every pending intent");
  seq->excludes(path, all);
  path->excludes(all);
  sub->add_flag("--yes", args->yes, "do it without asking (needed when stdin is a terminal)");
  sub->footer(std::string("The registered set and the failed set are not touched.\n\n") + kExitFooter);
  sub->callback([args, seq, path, all, &run] {
    if (seq->count() + path->count() + all->count() == 0) {
      throw CLI::RequiredError("one of --seq, --path or --all-pending");
    }
    run = [args] { return RunPurge(*args); };
  });
}

}  // namespace zkspoolctl
