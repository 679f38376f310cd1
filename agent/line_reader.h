// Splits the bytes arriving on stdin into request lines, none longer than a limit. Without one, a
// client sending 200 MB without a newline grew the agent by that much (and it kept the memory).
// A line over the limit is reported once and skipped up to its newline: what the reader holds
// stays below the limit whatever arrives.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace zkspool::agent {

class LineReader {
 public:
  explicit LineReader(size_t max_line_bytes) : max_(max_line_bytes) {}

  // Takes the next bytes of the stream. Calls `on_line` with each complete line (without its
  // newline) and `on_too_long` once for each line that passes the limit, as soon as it does.
  void Feed(std::string_view bytes, const std::function<void(std::string_view)>& on_line,
            const std::function<void()>& on_too_long);
  // End of the stream: a last line without a newline, if any, goes to `on_line`.
  void Finish(const std::function<void(std::string_view)>& on_line);

  // Bytes held for the line in progress (at most the limit).
  size_t buffered() const { return partial_.size(); }

 private:
  const size_t max_;
  std::string partial_;   // the start of the line in progress
  bool skipping_ = false;  // inside a line that passed the limit, up to its newline
};

}  // namespace zkspool::agent
