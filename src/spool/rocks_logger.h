// RocksDB's own log lines, sent to the spool's logger instead of a LOG file in the spool
// directory. A LOG file is one more file that can fill a disk, and RocksDB 7.8 (Debian's build
// has assertions on) aborts the process when it writes to it again after a write failed: a
// spool opened on a full disk died of SIGABRT inside DB::Open instead of reporting ENOSPC.
#pragma once

#include <rocksdb/env.h>
#include <spdlog/logger.h>

#include <memory>

namespace zkspool {

// Warnings and errors at their level; RocksDB's informational lines at debug.
std::shared_ptr<rocksdb::Logger> RocksLoggerTo(std::shared_ptr<spdlog::logger> log);

}  // namespace zkspool
