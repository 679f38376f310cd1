#include "duration.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <limits>

namespace zkspool::agent {

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto invalid = [&] {
    return Status::InvalidArgument(fmt::format(
        "\"{}\" is not a duration: write a number with a unit (ms, s, m, h), e.g. 500ms, 10s, 1m30s", text));
  };
  if (text.empty()) return invalid();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t i = 0;
  bool bare = true;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return invalid();
    int64_t number = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      if (number > (kMax - 9) / 10) return invalid();
      number = number * 10 + (text[i] - '0');
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t scale;
    if (unit.empty()) {
      if (!bare || i != text.size()) return invalid();  // "5" alone is ms; "1m5" is a mistake
      scale = 1;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return invalid();
    }
    bare = false;
    if (number > (kMax - total) / scale) return invalid();
    total += number * scale;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0";
  std::string out;
  for (auto [scale, unit] : {std::pair<int64_t, const char*>{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}}) {
    if (ms >= scale) {
      out += fmt::format("{}{}", ms / scale, unit);
      ms %= scale;
    }
  }
  return out;
}

}  // namespace zkspool::agent
