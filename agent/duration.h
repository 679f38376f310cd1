// Durations on the command line and in the config file: "500ms", "10s", "2m", "1h", or
// combinations such as "1m30s". A bare number is milliseconds, as the agent's flags took before
// they had units.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "zkspool/status.h"

namespace zkspool::agent {

// Errors: kInvalidArgument naming the text and the accepted forms (also for a negative value, an
// unknown unit or a value that overflows). Thread-safe.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest exact form ParseDuration reads back: "0", "500ms", "10s", "1m30s", "2h".
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace zkspool::agent
