// ZooKeeper's rules for paths (PathUtils.validatePath on the server), checked before an intent is
// spooled: an intent the server would reject must never be acknowledged.
#pragma once

#include <string>
#include <string_view>

#include "zkspool/status.h"

namespace zkspool {

// OK, or kInvalidArgument naming the rule `path` breaks.
Status ValidatePath(std::string_view path);

// `text` quoted for an error message: non-printable bytes as \xNN, long text shortened.
std::string QuoteForMessage(std::string_view text);

}  // namespace zkspool
