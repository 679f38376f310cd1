// zkspoolctl verify: reads every record and checksum and names each bad one.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "common.h"
#include "format.h"

namespace zkspoolctl {
namespace {

struct VerifyArgs {
  std::string spool;
  bool json = false;
};

int RunVerify(const VerifyArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  // Progress only for a person watching: a pipe or a log file would fill with \r lines.
  const bool progress = ::isatty(STDERR_FILENO) == 1;
  std::chrono::steady_clock::time_point last_shown;  // the first report shows at once
  bool shown = false;
  auto on_progress = [&](uint64_t checked) {
    if (!progress || std::chrono::steady_clock::now() - last_shown < std::chrono::milliseconds(200)) return;
    last_shown = std::chrono::steady_clock::now();
    shown = true;
    std::cerr << "\rverifying: " << checked << " records checked" << std::flush;
  };
  Json problems = Json::array();
  Table table({{"FAMILY"}, {"KEY"}, {"PROBLEM"}});
  auto on_problem = [&](const zkspool::VerifyProblem& p) {
    problems.push_back(Json{{"family", p.family}, {"key", p.key}, {"message", p.message}});
    table.Add({p.family, p.key, p.message});
  };
  auto report = reader->Verify(on_problem, on_progress);
  if (shown) std::cerr << "\r\033[K" << std::flush;
  if (!report.ok()) return Fail(report.status());

  if (args.json) {
    Json j;
    j["spool"] = args.spool;
    j["records_checked"] = report->records_checked;
    j["healthy"] = report->problems == 0;
    j["problems"] = problems;
    std::cout << JsonLine(j) << '\n';
  } else {
    if (report->problems > 0) table.Print(std::cout);
    std::cout << "checked " << report->records_checked << " records: "
              << (report->problems == 0 ? std::string("healthy")
                                        : std::to_string(report->problems) + " damaged")
              << '\n';
  }
  return report->problems == 0 ? kExitOk : kExitCorruption;
}

}  // namespace

void AddVerify(CLI::App& app, Command& run) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Read every record and checksum; exit 0 if healthy, 3 if damaged (read-only, works live)");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  sub->add_flag("--json", args->json, "one JSON object instead of the table");
  sub->callback([args, &run] { run = [args] { return RunVerify(*args); }; });
}

}  // namespace zkspoolctl
