// zkspoolctl retry-failed / clear-failed: what an operator does with intents parked as failed
// once the cause is fixed (retry) or the intents are unwanted (clear), on a stopped spool. A
// running agent does the same through its control API (zkspoolctl agent retry-failed).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

constexpr size_t kChunk = 4096;

struct FailedArgs {
  std::string spool;
  bool yes = false;
};

int RunRetryFailed(const FailedArgs& args) {
  int exit;
  auto spool = OpenOwner(args.spool, "retry-failed", exit);
  if (!spool) return exit;
  auto report = spool->RetryFailed();
  if (!report.ok()) return Fail(report.status());
  std::cout << "spooled again " << report->retried.size() << " failed intents; dropped "
            << report->superseded.size() << " that later intents of their paths supersede\n";
  Table table({{"FAILED SEQ", true}, {"NEW SEQ", true}, {"PATH"}});
  for (const auto& r : report->retried) table.Add({std::to_string(r.failed_seq), std::to_string(r.new_seq), Printable(r.path)});
  for (const auto& f : report->superseded) table.Add({std::to_string(f.record.seq), "superseded", Printable(f.record.intent.path)});
  if (table.size() > 0) table.Print(std::cout);
  return kExitOk;
}

int RunClearFailed(const FailedArgs& args) {
  int exit;
  auto spool = OpenOwner(args.spool, "clear-failed", exit);
  if (!spool) return exit;
  std::vector<uint64_t> seqs;
  for (uint64_t from = 0;;) {
    auto chunk = spool->ReadFailed(from, kChunk);
    if (!chunk.ok()) return Fail(chunk.status());
    for (const auto& f : *chunk) seqs.push_back(f.record.seq);
    if (chunk->size() < kChunk) break;
    from = chunk->back().record.seq + 1;
  }
  if (seqs.empty()) {
    std::cout << "no failed intents\n";
    return kExitOk;
  }
  if (!args.yes && ::isatty(STDIN_FILENO) == 1) {
    return Fail("clear-failed would remove " + std::to_string(seqs.size()) +
                    " failed intents for good (they will never reach ZooKeeper); run again with --yes to do it",
                kExitUsage);
  }
  auto removed = spool->RemoveFailed(seqs);
  if (!removed.ok()) return Fail(removed.status());
  std::cout << "removed " << removed->size() << " failed intents:\n";
  Table table({{"SEQ", true}, {"OP"}, {"PATH"}, {"REASON"}});
  for (const auto& f : *removed) {
    table.Add({std::to_string(f.record.seq), zkspool::OpName(f.record.intent.op), Printable(f.record.intent.path), f.reason});
  }
  table.Print(std::cout);
  return kExitOk;
}

}  // namespace

void AddFailed(CLI::App& app, Command& run) {
  auto retry = std::make_shared<FailedArgs>();
  CLI::App* sub = app.add_subcommand(
      "retry-failed", "Spool failed intents again unless later intents supersede them (writes; needs the spool not in use)");
  sub->add_option("SPOOL", retry->spool, "spool directory")->required();
  sub->footer(std::string("Per path only the newest failed intent counts, and only when no pending intent or\n"
                          "registered node of its path is newer; it gets a new sequence number.\n\n") + kExitFooter);
  sub->callback([retry, &run] { run = [retry] { return RunRetryFailed(*retry); }; });

  auto clear = std::make_shared<FailedArgs>();
  sub = app.add_subcommand(
      "clear-failed", "Remove every failed intent for good (writes; needs the spool not in use; asks for --yes on a terminal)");
  sub->add_option("SPOOL", clear->spool, "spool directory")->required();
  sub->add_flag("--yes", clear->yes, "do it without asking (needed when stdin is a terminal)");
  sub->footer(kExitFooter);
  sub->callback([clear, &run] { run = [clear] { return RunClearFailed(*clear); }; });
}

}  // namespace zkspoolctl
