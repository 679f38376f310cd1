// zkspoolctl: the operators' inspection tool for zkspool spools. Read commands open the spool
// as a RocksDB secondary and work while its owner runs; expire and purge take ownership.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "build_version.h"
#include "common.h"

int main(int argc, char** argv) {
  using namespace zkspoolctl;
  CLI::App app("zkspoolctl: inspect and repair zkspool spools", "zkspoolctl");
  app.footer(kExitFooter);
  app.set_version_flag("--version", zkspool::VersionLine("zkspoolctl"));
  app.require_subcommand(1);
  Command run;
  AddStats(app, run);
  AddPending(app, run);
  AddRegistered(app, run);
  AddDump(app, run);
  AddVerify(app, run);
  AddExpire(app, run);
  AddPurge(app, run);
  AddDiff(app, run);
  AddFailed(app, run);
  AddAgent(app, run);
  AddSalvage(app, run);
  // CLI11 would call an unknown command "a subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->check_name(argv[1]);
    }
    if (!known) return Fail(std::string("unknown command \"") + argv[1] + "\" (the commands: " + names + ")", kExitUsage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "zkspoolctl: " << e.what() << " (see zkspoolctl --help)\n";
    return kExitUsage;
  }
  if (!run) return Fail("no command given (see zkspoolctl --help)", kExitUsage);
  try {
    return run();
  } catch (const std::exception& e) {
    return Fail(e.what(), kExitError);
  }
}
