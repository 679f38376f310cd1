// Human output of zkspoolctl: durations, sizes, aligned tables. Pure functions, no I/O except
// Table::Print.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "zkspool/session_id.h"

namespace zkspoolctl {

// "850ms", "12s", "1m12s", "2h03m", "3d04h". Negative durations print as "0ms".
std::string FormatAge(int64_t ms);
// "512 B", "4.1 KiB", "12.0 MiB", "1.5 GiB" (binary units, one decimal above bytes).
std::string FormatBytes(uint64_t bytes);
using zkspool::FormatSessionId;  // one format for session ids everywhere
// RFC 4648 base64 with padding.
std::string Base64(std::string_view bytes);
// `bytes` if it is printable ASCII, else a short description; for paths on a terminal.
std::string Printable(std::string_view bytes);

// Columns padded to their widest cell, separated by two spaces; numeric columns right-aligned.
class Table {
 public:
  struct Column {
    std::string header;
    bool right = false;
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace zkspoolctl
