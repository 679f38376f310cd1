// The spool's high-water mark: durable evidence, kept outside RocksDB's log and tables, of how far
// the spool got, so that damage which makes RocksDB's own recovery come up short (a zeroed log
// head read as a torn tail, a MANIFEST cut in half) cannot pass for a spool that was simply
// empty. It lives in its own small file, HIGHWATER, in the spool directory:
//
//   zkspool highwater 1
//   acknowledged 1234        every intent up to this sequence number was durably acknowledged
//   manifest 5 20480         RocksDB's MANIFEST-000005 had 20480 bytes synced
//   tables 12 17             the live table files then (000012.sst, 000017.sst)
//   crc32c 1a2b3c4d          of the lines above
//
// It is rewritten (temporary file, fsync, rename, directory fsync) after Open, at most every
// kHighwaterInterval while appends are acknowledged, and at close: never on an append's own
// path, so a sync append costs no extra fsync. Damage confined to what was written after the last
// rewrite (at most that interval's appends at the tail of the log) is indistinguishable from a
// torn tail and is tolerated like one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "zkspool/status.h"

namespace rocksdb {
class FileSystem;
}
namespace spdlog {
class logger;
}

namespace zkspool {

inline constexpr const char* kHighwaterFile = "HIGHWATER";
inline constexpr std::chrono::milliseconds kHighwaterInterval{1000};

struct Highwater {
  uint64_t acknowledged = 0;     // every intent up to it is pending, failed or removed
  uint64_t manifest_number = 0;  // the MANIFEST RocksDB wrote to ...
  uint64_t manifest_size = 0;    // ... and how many of its bytes were synced
  // The live table files: a reader (RocksDB secondary instance) silently leaves out a table it
  // cannot load and reads its family as emptier; one of these still on disk must load.
  std::vector<uint64_t> tables;

  bool operator==(const Highwater&) const = default;
};

// The recorded evidence, or nullopt if `dir` has no HIGHWATER file.
// Errors: kCorruption naming the file if it does not parse or fails its checksum; kIOError.
Result<std::optional<Highwater>> ReadHighwater(rocksdb::FileSystem& fs, const std::string& dir);
// Replaces the file durably. Errors: kIOError.
Status WriteHighwater(rocksdb::FileSystem& fs, const std::string& dir, const Highwater& mark);

// Rewrites HIGHWATER in the background after something new was acknowledged, at most every
// `interval`. `collect` gathers the evidence as of now (called on the keeper's thread; it must
// only claim what is already durable), `write` stores it. Failures are logged and retried at the
// next interval. Thread-safe.
class HighwaterKeeper {
 public:
  HighwaterKeeper(std::function<Result<Highwater>()> collect, std::function<Status(const Highwater&)> write,
                  std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds interval = kHighwaterInterval);
  // Stop() if not stopped yet.
  ~HighwaterKeeper();

  HighwaterKeeper(const HighwaterKeeper&) = delete;
  HighwaterKeeper& operator=(const HighwaterKeeper&) = delete;

  // Something new is durable: have it recorded within the interval. Never blocks on I/O.
  void Changed();
  // Records the evidence now, on the caller's thread. Errors: those of collect/write.
  Status RecordNow();
  // Ends the thread, then records the evidence one last time. Errors: those of collect/write.
  Status Stop();

 private:
  void Run();

  std::function<Result<Highwater>()> collect_;
  std::function<Status(const Highwater&)> write_;
  std::shared_ptr<spdlog::logger> log_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool changed_ = false;
  bool stopping_ = false;
  std::mutex record_mu_;               // one rewrite at a time
  std::optional<Highwater> written_;  // the last evidence written; guarded by record_mu_
  std::thread thread_;
};

}  // namespace zkspool
