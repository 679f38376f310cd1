// The spool: a durable, ordered write-ahead store of registration intents, kept in an embedded
// RocksDB database in one directory. Everything a caller registers passes through here before
// anything is sent to ZooKeeper, so an acknowledged intent survives a crash of this process and,
// with Durability::kSync, a power cut.
//
// The spool is usable on its own: no ZooKeeper is needed to open, append to or read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zkspool/intent.h"
#include "zkspool/status.h"

namespace rocksdb {
class FileSystem;
}
namespace spdlog {
class logger;
}

namespace zkspool {

// The on-disk format this build writes. A spool or record of a higher version is refused with
// StatusCode::kNewerFormat rather than misread.
// Format 2 added the counters and the expiry index; a format-1 spool is upgraded by Open.
inline constexpr uint32_t kSpoolFormatVersion = 2;

// The server rejects requests larger than jute.maxbuffer (0xfffff bytes by default) by dropping
// the connection; the margin leaves room for the path, the ACL and the request framing.
inline constexpr size_t kDefaultMaxDataBytes = 1024 * 1024 - 16 * 1024;
inline constexpr size_t kMaxPathBytes = 4096;
// ZooKeeper keeps a node's TTL in 40 bits of milliseconds (EphemeralType.TTL).
inline constexpr int64_t kMaxNodeTtlMs = (int64_t{1} << 40) - 1;
inline constexpr std::chrono::milliseconds kMaxSpoolTtl = std::chrono::hours(24 * 3650);

enum class Durability {
  // Append returns after the intent is fsync'd (fdatasync of RocksDB's WAL). Concurrent appends
  // share one fsync through RocksDB's group commit. Survives kill -9 and power loss.
  kSync,
  // Append returns after the intent is written to the OS. Survives a crash of this process, not
  // a power cut or kernel crash: the last appends before one may be lost.
  kBuffered,
};

struct SpoolOptions {
  // Default: kSync.
  Durability durability = Durability::kSync;
  // Append fails with kSpoolFull rather than exceed either limit. Applied and expired intents
  // free their share. Defaults: one million intents, 1 GiB of encoded records.
  uint64_t max_pending_intents = 1'000'000;
  uint64_t max_pending_bytes = uint64_t{1} << 30;
  // Largest node data an intent may carry. Default: kDefaultMaxDataBytes.
  size_t max_data_bytes = kDefaultMaxDataBytes;
  // After this many intents were removed (applied or expired), the removed key range is compacted,
  // on a background thread, so that its tombstones stop costing reads and disk. Default: 10,000.
  uint64_t compact_after_removed = 10'000;
  // Where log lines go. Default (null): spdlog's logger named "zkspool", created on stderr if no
  // logger of that name is registered.
  std::shared_ptr<spdlog::logger> logger;
  // The wall clock, in Unix milliseconds, used to stamp and age intents. Default (empty):
  // std::chrono::system_clock. Tests inject their own.
  std::function<int64_t()> clock_ms;
  // When false, Open refuses a directory that does not exist or is not already a spool
  // (kNotFound / kNotASpool) instead of creating one: for tools that must never create a
  // spool by accident. Default: true.
  bool create_if_missing = true;
  // The file system RocksDB uses. Default (null): the operating system's. Fault-injection tests
  // pass a wrapper here.
  std::shared_ptr<rocksdb::FileSystem> file_system;
};

struct SpoolStats {
  uint64_t pending_count = 0;
  uint64_t pending_bytes = 0;  // encoded size of the pending records
  uint64_t registered_count = 0;
  // Age of the oldest pending intent, by the spool's clock; empty when nothing is pending.
  std::optional<std::chrono::milliseconds> oldest_pending_age;
  uint64_t next_sequence = 0;  // the sequence number the next Append will get (or higher)
  uint64_t expired_count = 0;  // intents dropped by Expire over the spool's lifetime
  uint64_t failed_count = 0;   // intents parked by MarkFailed and still in the failed set
  uint64_t compactions = 0;    // background compactions of removed ranges since Open
  uint32_t format_version = kSpoolFormatVersion;
};

// A ZooKeeper session as the C client identifies it (clientid_t). The password is a secret: no
// zkspool function prints or logs it.
struct SessionInfo {
  int64_t id = 0;
  std::string password;  // 16 bytes as the server issued it

  bool operator==(const SessionInfo&) const = default;
};

// One intent of Spool::AppendBatch, and how long it may wait in the spool (Append's `ttl`).
struct BatchEntry {
  Intent intent;
  std::chrono::milliseconds ttl{0};
};

struct FailedIntent {
  SpooledIntent record;
  std::string reason;
};

// What applying one path's intents left in ZooKeeper, for Spool::MarkApplied.
struct AppliedPath {
  std::string path;
  std::vector<uint64_t> seqs;         // pending intents of `path` that this outcome resolves
  std::optional<SpooledIntent> node;  // the node now there (a put of `path` with keep_mode
                                      // resolved), or none when the path was deleted
};

// A point in a spool's history (Spool::Snapshot): reads against it see the spool as it was then.
// Holding one keeps what changed since from being compacted away, so hold it only as long as a
// pass over the data takes. It must be released before its spool is destroyed.
class SpoolSnapshot;

// A chunk of a pass over the registered set (Spool::ReadRegisteredUnchanged).
struct RegisteredChunk {
  std::vector<SpooledIntent> nodes;
  std::string last_path;  // where the next chunk starts (after_path); may be past the last node
  bool done = false;      // nothing after last_path
};

// Thread-safety: all member functions may be called concurrently from any thread. Appends from
// concurrent threads are group-committed. MarkApplied, MarkFailed, Expire and SaveSession are serialized
// with each other.
class Spool {
 public:
  // Opens the spool in `dir`, creating the directory (mode 0700) and an empty spool if it does
  // not exist (unless options.create_if_missing is false). Only one process may own a spool at
  // a time.
  // Errors:
  //   kNotFound      `dir` does not exist and options.create_if_missing is false
  //   kSpoolInUse    another process has the spool open (the message names the directory and,
  //                  where known, the owner's pid and host)
  //   kNotASpool     `dir` is not a directory; or a non-empty directory without the spool
  //                  marker (e.g. another program's RocksDB database); or its database does not
  //                  have exactly the spool's column families; with create_if_missing false also
  //                  an empty directory. Nothing is written to it.
  //   kNewerFormat   the spool was written by a newer format version
  //   kCorruption    damage anywhere but a torn tail of the log (see below); the message names
  //                  the file. `zkspoolctl salvage` copies what still reads into a new spool.
  //   kIOError       any other file-system or RocksDB failure (a full disk: "No space left on
  //                  device"; permissions; a dangling symbolic link)
  //   kInvalidArgument `dir` is empty
  // Integrity: Open fails with kCorruption for a damaged record of the write-ahead log or the
  // MANIFEST that has valid records after it, a MANIFEST shorter than what was synced of it, a
  // recovery that ends below the highest sequence number the spool recorded as acknowledged (in
  // its HIGHWATER file, rewritten at most every second and at close; so only damage confined
  // to the last second's appends at the tail of the log can pass for a torn tail), a damaged
  // block of any table file, a missing CURRENT, HIGHWATER or column family.
  static Result<std::unique_ptr<Spool>> Open(const std::string& dir, SpoolOptions options = {});

  // Closes the database; the directory lock is released. Pending intents stay on disk.
  ~Spool();

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Validates `intent`, stamps enqueued_at_ms with the clock and expires_at_ms with
  // enqueued_at_ms + ttl (ttl zero: never expires), and stores it durably as options' durability
  // says. Returns its sequence number: strictly greater than every sequence number this spool
  // has ever returned, also across crashes and reopening.
  // Errors (nothing is stored or changed):
  //   kInvalidArgument  the path breaks ZooKeeper's rules, data is too large or present on a
  //                     delete, a TTL is out of range; the message names the rule
  //   kSpoolFull        max_pending_intents or max_pending_bytes would be exceeded
  //   kIOError          the write failed (disk full, I/O error); with RocksDB the intent may
  //                     still surface later if the write reached the log before the failure,
  //                     so its sequence number is used up, never handed out again
  Result<uint64_t> Append(Intent intent, std::chrono::milliseconds ttl = std::chrono::milliseconds{0});

  // Appends every entry as Append would, as one unit: all or nothing. The entries are validated
  // and the pending limits checked for the whole batch first; they are then stored in one atomic
  // RocksDB write (with kSync, one fsync for all of them) and get consecutive sequence numbers
  // in their order, returned in that order. For many changes at once (a registrations file),
  // where an fsync each would take minutes. The batch is held in memory while it is written, so
  // its size is bounded by the caller (and by max_pending_bytes). An empty batch does nothing.
  // Errors (nothing is stored; no sequence number is used, except on kIOError):
  //   kInvalidArgument  an entry breaks a rule; the message starts "entry <index>: "
  //   kSpoolFull        the whole batch would pass max_pending_intents or max_pending_bytes
  //   kIOError          as Append (the batch's numbers are used up)
  Result<std::vector<uint64_t>> AppendBatch(std::vector<BatchEntry> entries);

  // Up to `max_count` pending intents with seq >= from_seq, in sequence order, and no more once
  // their stored records reach `max_bytes` (the first is returned whatever its size). Memory is
  // bounded by both; removed intents below the first pending one are skipped without a scan.
  // Stops below any Append still in progress, so a cursor (from_seq = last seq read + 1) never
  // skips an intent that lands late.
  // Errors: kCorruption (names the bad key), kIOError.
  Result<std::vector<SpooledIntent>> ReadPending(uint64_t from_seq, size_t max_count,
                                                 size_t max_bytes = SIZE_MAX) const;

  // The pending intent with this sequence number. Errors: kNotFound, kCorruption, kIOError.
  Result<SpooledIntent> GetPending(uint64_t seq) const;

  // Records that the intents `seqs` are applied to ZooKeeper: in one atomic write, deletes them
  // from the pending set and, in sequence order, upserts each put's node into the registered set
  // (a keep_mode put takes the mode of the put before it: see ResolveKeepMode) or removes each
  // delete's path from it. Like every removal but RemovePending, the write survives a crash of
  // this process but is not fsync'd: a power cut may undo it, which brings the intents back to be
  // applied again (idempotently), never changed.
  // Errors (nothing is changed): kNotFound if any seq is not pending, kCorruption, kIOError.
  Status MarkApplied(std::span<const uint64_t> seqs);
  // The same for outcomes the caller has resolved per path: in one atomic write, every seq of
  // every entry leaves the pending set and each entry's path is registered as its `node` (or not
  // at all). Errors (nothing is changed): kNotFound if any seq is not pending, kInvalidArgument if
  // a node is not a resolved put of its path, kCorruption, kIOError.
  Status MarkApplied(std::span<const AppliedPath> applied);

  // Pending intents whose TTL ran out at or before `now_ms`, earliest expiry first, at most
  // `max_count`. Reads the expiry index from where nothing but removed entries lie below, so it
  // costs what is due plus what was removed since the last call, never the whole backlog.
  // Errors: kCorruption, kIOError.
  Result<std::vector<SpooledIntent>> ReadDue(int64_t now_ms, size_t max_count) const;

  // No pending intent expires before the returned time (Unix ms); it may be earlier than the
  // first real expiry (an intent applied meanwhile, or one ReadDue returned that is still
  // pending), never later. Empty when no pending intent has a TTL. O(1), no I/O.
  std::optional<int64_t> NextExpiry() const;

  // Drops the pending intents `seqs` as expired (counted in expired_count) and returns them in
  // sequence order. The caller decides they are due (see ReadDue); the registered set is untouched.
  // Errors (nothing is changed): kNotFound if any seq is not pending, kCorruption, kIOError.
  Result<std::vector<SpooledIntent>> ExpireIntents(std::span<const uint64_t> seqs);

  // Drops every pending intent whose expires_at_ms is at or before `now_ms`, except those in
  // `keep` (intents the caller is applying right now), and returns them in sequence order. The
  // registered set is untouched. Through the expiry index, in bounded chunks.
  // Errors: kCorruption, kIOError.
  Result<std::vector<SpooledIntent>> Expire(int64_t now_ms, const std::set<uint64_t>& keep = {});

  // Parks the pending intents `seqs` as failed with `reason` (an error that retrying cannot fix,
  // such as ZNOAUTH): in one atomic write they leave the pending set and enter the failed set,
  // where operators see them. The registered set is untouched.
  // Errors (nothing is changed): kNotFound if any seq is not pending, kCorruption, kIOError.
  Status MarkFailed(std::span<const uint64_t> seqs, std::string_view reason);

  // Removes the pending intents `seqs` without applying them, for an operator who decides they
  // must never reach ZooKeeper (zkspoolctl purge). In one atomic, fsync'd write they leave the
  // pending set; the registered and failed sets and the expired count are untouched, and their
  // sequence numbers are never handed out again. Returns the removed intents in sequence order.
  // Errors (nothing is changed): kNotFound if any seq is not pending, kCorruption, kIOError.
  Result<std::vector<SpooledIntent>> RemovePending(std::span<const uint64_t> seqs);

  // Up to `max_count` failed intents with seq >= from_seq, in sequence order.
  // Errors: kCorruption, kIOError.
  Result<std::vector<FailedIntent>> ReadFailed(uint64_t from_seq, size_t max_count) const;

  // Removes the failed intents `seqs` from the failed set for good (Registrar::ClearFailed,
  // zkspoolctl clear-failed) in one atomic, fsync'd write, and returns them in sequence order.
  // Nothing else changes. Errors (nothing is changed): kNotFound if any seq is not in the failed
  // set, kCorruption, kIOError.
  Result<std::vector<FailedIntent>> RemoveFailed(std::span<const uint64_t> seqs);

  // Gives the failed intents another chance without ever letting one override a later intent of
  // its path (promise: per path, the intent with the highest sequence number decides):
  //  - of the failed intents of one path only the newest is considered; the older ones are
  //    superseded by it;
  //  - it is superseded too when a pending intent of its path or the registered node of its path
  //    has a higher sequence number;
  //  - otherwise it is appended again as a new intent: the same op, path, data, mode, ACL and
  //    node TTL, enqueued now, a spool TTL as long as it had (none if none), and a new sequence
  //    number, higher than any other.
  // Retried and superseded intents then leave the failed set. Appending first makes a crash in
  // between harmless: the failed copy is then superseded by its own retry at the next call.
  // The spool does not remember deletes it applied, so a later deregistration that was applied
  // is not seen here: Registrar drops the failed intents of a path whenever it applies a later
  // intent of that path, so on a spool owned only by Registrars no such pair exists.
  // Appends of other threads to the same paths while this runs may be ordered before or after
  // the retried intents: serialize them with this call where that matters.
  // Memory: the failed set's paths. Errors: those of Append (kSpoolFull, kIOError: the intents
  // retried before it stay retried and leave the failed set, the rest stay failed), kCorruption.
  struct RetriedIntent {
    uint64_t failed_seq = 0;  // the sequence number it failed under
    uint64_t new_seq = 0;     // the one it is pending under now
    std::string path;
  };
  struct RetryReport {
    std::vector<RetriedIntent> retried;
    std::vector<FailedIntent> superseded;
  };
  Result<RetryReport> RetryFailed();

  // Up to `max_count` registered nodes with path > `after_path`, in path order; seq is the
  // sequence number of the intent that put it. Use "" to start. Errors: kCorruption, kIOError.
  Result<std::vector<SpooledIntent>> ReadRegistered(std::string_view after_path, size_t max_count) const;

  // The spool as of now, for ReadRegisteredUnchanged.
  std::shared_ptr<const SpoolSnapshot> Snapshot() const;

  // A pass over the registered set as it was at `since`: up to `max_count` nodes with path >
  // `after_path`, in path order, skipping those deregistered or put again since (a pass started
  // at `since` has nothing to do for what was applied after it began), and no more once their
  // records reach `max_bytes` (the first whatever its size). Costs the nodes read plus one
  // batched point lookup each. Errors: kCorruption, kIOError.
  Result<RegisteredChunk> ReadRegisteredUnchanged(const SpoolSnapshot& since, std::string_view after_path,
                                                  size_t max_count, size_t max_bytes = SIZE_MAX) const;

  // The registered node at `path`. Errors: kNotFound, kCorruption, kIOError.
  Result<SpooledIntent> GetRegistered(std::string_view path) const;

  // Durably records `session` as the current ZooKeeper session and adds its id to the sessions
  // this spool has owned (the most recent 64 are kept). Errors: kIOError.
  Status SaveSession(const SessionInfo& session);
  // The current session, if one was saved. Errors: kCorruption, kIOError.
  Result<std::optional<SessionInfo>> LoadSession() const;
  // Ids of every session this spool has owned, oldest first. Errors: kCorruption, kIOError.
  Result<std::vector<int64_t>> OwnedSessions() const;
  // Forgets the current session and keeps its id among the sessions this spool has owned: for
  // an owner that ended the session itself (Registrar::Close(kEndSession)), so that the next
  // Open starts a new session at once instead of asking the server to resume one it has closed
  // (which it answers with "session expired"). Durable (fsync'd). Errors: kIOError.
  Status ForgetSession();

  // Counts and ages. Reads the oldest pending intent for its age: a look-up in RocksDB, so not
  // for a hot path. Errors: kCorruption, kIOError (reading the oldest pending intent).
  Result<SpoolStats> Stats() const;
  // The sequence number the next Append will get (or higher). Every lower one was handed out:
  // to an intent, to an Append still writing, or to one that failed (numbers are never reused).
  // Stats().next_sequence without the read, for callers that ask once per intent.
  uint64_t NextSequence() const;

  const std::string& dir() const;

  // The spool's clock (SpoolOptions::clock_ms), Unix milliseconds: what stamps and ages intents.
  int64_t NowMs() const;

 private:
  struct Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Checks `intent` as Append would, with the given limits. Returns kInvalidArgument naming the
// first broken rule, or OK. Thread-safe.
Status ValidateIntent(const Intent& intent, std::chrono::milliseconds ttl, size_t max_data_bytes);

}  // namespace zkspool
