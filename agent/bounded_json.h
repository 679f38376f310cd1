// JSON as the agent accepts it from outside (request lines, the registrations file): parsed
// with limits, so no input can make the agent recurse, allocate or wait without bound.
// nlohmann's parser itself is iterative, but what it builds is not: serialising a reply whose
// "id" was nested 60,000 deep overflowed the stack (SIGSEGV). Here nesting is limited, arrays
// are limited in length while they are parsed (not after the whole document is in memory), a
// key given twice in an object is an error rather than the last one silently winning, and the
// request's "id" is kept as the exact text it was sent as (nlohmann stores integers beyond
// 64 bits as doubles: a 30-digit id came back as 1e+29).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "zkspool/status.h"

namespace zkspool::agent {

struct JsonLimits {
  size_t max_depth = 64;  // objects and arrays nested in one another, the outermost counting 1
  size_t max_array_items = std::numeric_limits<size_t>::max();
};

struct BoundedJson {
  nlohmann::json value;
  // When `value` is an object with an "id" member: that member as compact JSON text with every
  // number exactly as written.
  std::optional<std::string> id_text;
};

// Parses `text` as one JSON value within `limits`. Errors: kInvalidArgument with a message that
// reads on after a subject ("the line" / "registrations file X"): "is not valid JSON (at byte
// 12)", "nests objects and arrays deeper than 64 levels, the limit", "has an array of more than
// 100000 items, the limit", "has the key \"op\" twice in one object". Thread-safe.
Result<BoundedJson> ParseBoundedJson(std::string_view text, const JsonLimits& limits);

}  // namespace zkspool::agent
