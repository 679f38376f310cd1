// What every zkspoolctl command shares: exit codes, opening the spool (read-only or as owner),
// reporting an error in one line, and the JSON form of an intent.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zkspool/spool.h"
#include "zkspool/spool_reader.h"
#include "zkspool/status.h"

namespace CLI {
class App;
class Validator;
}

namespace zkspoolctl {

// The documented exit statuses (see the --help footer and docs/operations.md).
enum Exit : int {
  kExitOk = 0,
  kExitDifferences = 1,
  kExitUsage = 2,
  kExitCorruption = 3,
  kExitInUse = 4,
  kExitError = 5,
};

// The --help footer of every command.
inline constexpr const char* kExitFooter =
    "Exit status: 0 ok, 1 differences (diff), 2 usage, 3 corruption, 4 spool in use (expire, purge,\n"
    "retry-failed, clear-failed, salvage), 5 other error (missing directory, not a spool, newer format, ZooKeeper or\n"
    "the agent unreachable, I/O). agent ...: 1 when the agent answers with an error or unhealthy.\n"
    "Read commands (stats, pending, registered, dump, verify, diff) never block the spool's owner.\n"
    "See docs/operations.md.";

// Keys keep the order they are written in, so JSON lines read like the tables.
using Json = nlohmann::ordered_json;

// One line of JSON output. Bytes that are not UTF-8 (a spool directory's name may hold any) are
// written as U+FFFD: nlohmann's plain dump() throws on them, which made the command fail.
std::string JsonLine(const Json& j);

// What a parsed subcommand runs; its result is the process's exit status.
using Command = std::function<int()>;

int ExitFor(const zkspool::Status& status);
// Prints "zkspoolctl: <problem>" on stderr and returns ExitFor(status).
int Fail(const zkspool::Status& status);
// Prints "zkspoolctl: <message>" on stderr and returns `exit`.
int Fail(const std::string& message, int exit);

int64_t NowMs();

// Opens `dir` read-only beside a live owner. On failure prints the problem and sets `exit`.
std::unique_ptr<zkspool::SpoolReader> OpenReader(const std::string& dir, int& exit);
// What `stats` and `dump` both show about a spool as a whole.
struct SpoolFacts {
  zkspool::SpoolStats stats;
  std::optional<int64_t> session_id;
  std::vector<int64_t> owned_sessions;
};
// Reads them from `reader` at `now_ms`. On failure prints the problem and sets `exit`.
std::optional<SpoolFacts> ReadFacts(const zkspool::SpoolReader& reader, int64_t now_ms, int& exit);
// Opens `dir` as its owner (never creating it); a spool in use is reported with what to do.
std::unique_ptr<zkspool::Spool> OpenOwner(const std::string& dir, const char* command, int& exit);

// A CLI11 check that an option is a whole number from `min` to `max`, in plain decimal (no sign,
// no leading zero), with a message that says so (CLI11's own number checks print the range of a
// double: 300 digits). `max` must be what the option's type holds: CLI11 clamps larger values.
CLI::Validator WholeNumber(uint64_t min, uint64_t max = UINT64_MAX);

// The node a --path prefix names, without a trailing '/' ("/svc/" names "/svc"); "" when it
// names everything ("" or "/").
std::string SubtreeRoot(const std::string& prefix);
// True if `path` is `prefix` or lies under it ("/" matches everything).
bool UnderPrefix(const std::string& path, const std::string& prefix);

// The fields every JSON form of an intent shares; data as its size unless `with_data`.
Json IntentJson(const zkspool::SpooledIntent& record, int64_t now_ms, bool with_data);

// Registration of each subcommand on the top-level app; `run` is set when it is chosen.
void AddStats(CLI::App& app, Command& run);
void AddPending(CLI::App& app, Command& run);
void AddRegistered(CLI::App& app, Command& run);
void AddDump(CLI::App& app, Command& run);
void AddVerify(CLI::App& app, Command& run);
void AddExpire(CLI::App& app, Command& run);
void AddPurge(CLI::App& app, Command& run);
void AddDiff(CLI::App& app, Command& run);
void AddFailed(CLI::App& app, Command& run);  // retry-failed, clear-failed
void AddAgent(CLI::App& app, Command& run);   // agent ...: a running zkspool-agent's control API
void AddSalvage(CLI::App& app, Command& run);

}  // namespace zkspoolctl
