// Reads a RocksDB log file (a write-ahead log or a MANIFEST) on its own, record by record, to
// tell damage from a torn tail. RocksDB's own reader, in the recovery mode a spool needs
// (kTolerateCorruptedTailRecords), takes zeroed bytes or a record length that runs past the end
// of the file for a write cut short by a crash and silently drops everything after them: a
// zeroed block at the head of the log made a spool open empty. A torn tail has nothing valid
// after it; damage does. So this scanner also looks past the first bad record for any record
// whose checksum still holds.
//
// The format (RocksDB db/log_format.h): 32 KiB blocks; each record is a fragment with a 7-byte
// header (masked CRC-32C of type and payload, u16 length, u8 type: full, first, middle or last)
// and never crosses a block; a block's last < 7 bytes are zero padding.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "zkspool/status.h"

namespace rocksdb {
class FileSystem;
}

namespace zkspool {

struct LogScan {
  uint64_t size = 0;       // bytes in the file
  uint64_t valid_end = 0;  // end of the unbroken run of valid records from the start (size if undamaged)
  // Where the first bad record starts (== valid_end), and what is wrong with it.
  std::optional<uint64_t> damage_at;
  std::string damage;
  // Where the first valid record after the damage starts: set means the damage is not a torn
  // tail, since a crash cuts a log short, it does not punch holes into it.
  std::optional<uint64_t> valid_after;
};

// Scans the log file `path` through `fs`. `on_record`, if given, receives every complete logical
// record that still reads, also those after damage, in file order (a write batch for a WAL, a
// version edit for a MANIFEST); a record with a damaged fragment is skipped whole.
// Errors: kIOError if the file cannot be read.
Result<LogScan> ScanLogFile(rocksdb::FileSystem& fs, const std::string& path,
                            const std::function<void(std::string_view record)>& on_record = {});

}  // namespace zkspool
