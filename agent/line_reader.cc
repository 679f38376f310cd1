#include "line_reader.h"

namespace zkspool::agent {

void LineReader::Feed(std::string_view bytes, const std::function<void(std::string_view)>& on_line,
                      const std::function<void()>& on_too_long) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline);
    if (!skipping_) {
      if (partial_.size() + piece.size() > max_) {
        skipping_ = true;
        partial_.clear();
        partial_.shrink_to_fit();
        on_too_long();
      } else if (newline != std::string_view::npos) {
        if (partial_.empty()) {
          on_line(piece);
        } else {
          partial_.append(piece);
          on_line(partial_);
          partial_.clear();
        }
      } else {
        partial_.append(piece);
      }
    }
    if (newline == std::string_view::npos) return;
    skipping_ = false;
    bytes.remove_prefix(newline + 1);
  }
}

void LineReader::Finish(const std::function<void(std::string_view)>& on_line) {
  if (!skipping_ && !partial_.empty()) on_line(partial_);
  partial_.clear();
  skipping_ = false;
}

}  // namespace zkspool::agent
