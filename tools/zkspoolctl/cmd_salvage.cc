// zkspoolctl salvage: the answer to exit status 3. Copies every record of a damaged spool that
// still reads into a new spool and says what was kept and what was lost; a dry run by default.
#include <CLI/CLI.hpp>

#include <iostream>

#include "common.h"
#include "format.h"
#include "zkspool/spool_salvage.h"

namespace zkspoolctl {
namespace {

struct SalvageArgs {
  std::string spool;
  std::string target;
  bool write = false;
  bool json = false;
};

std::string Range(const zkspool::SalvageReport& r) {
  if (!r.first_pending) return "";
  return " (seq " + std::to_string(*r.first_pending) + " .. " + std::to_string(*r.last_pending) + ")";
}

std::string Ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::string out;
  for (const auto& [first, last] : ranges) {
    out += (out.empty() ? "" : ", ") + std::to_string(first) + (first == last ? "" : " .. " + std::to_string(last));
  }
  return out;
}

int RunSalvage(const SalvageArgs& args) {
  auto report = zkspool::SalvageSpool(args.spool, args.target, /*dry_run=*/!args.write);
  if (!report.ok()) return Fail(report.status());
  const zkspool::SalvageReport& r = *report;
  if (args.json) {
    Json j;
    j["spool"] = args.spool;
    j["target"] = args.target;
    j["written"] = r.written;
    j["pending_kept"] = r.pending_kept;
    j["registered_kept"] = r.registered_kept;
    j["failed_kept"] = r.failed_kept;
    j["session_kept"] = r.session_kept;
    j["owned_sessions_kept"] = r.owned_sessions_kept;
    j["expired_count"] = r.expired_count;
    j["acknowledged"] = r.acknowledged ? Json(*r.acknowledged) : Json(nullptr);
    j["highest_kept"] = r.highest_kept;
    j["next_sequence"] = r.next_sequence;
    j["lost"] = r.lost;
    Json missing = Json::array();
    for (const auto& [first, last] : r.missing) missing.push_back(Json::array({first, last}));
    j["missing"] = missing;
    std::cout << JsonLine(j) << '\n';
    return kExitOk;
  }
  std::cout << "salvage of " << args.spool
            << (r.written ? " into " + args.target : ": dry run, nothing written (--write creates " + args.target + ")")
            << '\n';
  std::cout << "kept          " << r.pending_kept << " pending intents" << Range(r) << ", " << r.registered_kept
            << " registered nodes, " << r.failed_kept << " failed intents; session "
            << (r.session_kept ? "kept" : "none") << ", " << r.owned_sessions_kept << " owned sessions, expired count "
            << r.expired_count << '\n';
  std::cout << "acknowledged  "
            << (r.acknowledged ? "up to seq " + std::to_string(*r.acknowledged) + " (HIGHWATER)" : std::string("unknown"))
            << "; the records kept account for up to seq " << r.highest_kept << '\n';
  if (!r.missing.empty()) {
    std::cout << "missing       sequence numbers without a record (lost, or appends that failed): " << Ranges(r.missing)
              << '\n';
  }
  if (r.lost.empty()) {
    std::cout << "lost          nothing that could be named\n";
  } else {
    std::cout << "lost          " << r.lost.size() << ":\n";
    for (const std::string& line : r.lost) std::cout << "  " << Printable(line) << '\n';
  }
  std::cout << "next sequence " << r.next_sequence << " in the new spool\n";
  return kExitOk;
}

}  // namespace

void AddSalvage(CLI::App& app, Command& run) {
  auto args = std::make_shared<SalvageArgs>();
  CLI::App* sub = app.add_subcommand(
      "salvage", "Copy what still reads of a damaged spool into a new one (dry run unless --write; never changes SPOOL)");
  sub->add_option("SPOOL", args->spool, "the damaged spool")->required();
  sub->add_option("NEW", args->target, "where the new spool goes (must not exist or be an empty directory)")->required();
  sub->add_flag("--write", args->write, "create NEW (without it, only report what would be kept and lost)");
  sub->add_flag("--json", args->json, "one JSON object instead of the report");
  sub->footer(std::string("The answer to exit status 3: stop the owner, salvage into NEW, check the report, then point\n"
                          "the service at NEW. Sequence numbers continue above every one the damaged spool used.\n\n") +
              kExitFooter);
  sub->callback([args, &run] { run = [args] { return RunSalvage(*args); }; });
}

}  // namespace zkspoolctl
