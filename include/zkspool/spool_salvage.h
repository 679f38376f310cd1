// Salvage: the answer to a spool that fails Spool::Open with kCorruption. It copies every record
// of the damaged spool that still reads into a new spool and says what it kept and what it lost,
// never changing the damaged one. `zkspoolctl salvage` runs it (docs/operations.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zkspool/status.h"

namespace zkspool {

struct SalvageReport {
  uint64_t pending_kept = 0;
  uint64_t registered_kept = 0;
  uint64_t failed_kept = 0;
  std::optional<uint64_t> first_pending, last_pending;  // sequence numbers of the pending intents kept
  bool session_kept = false;                            // the saved ZooKeeper session
  uint64_t owned_sessions_kept = 0;
  uint64_t expired_count = 0;
  // What could not be read: one line each, naming the record ("intents 42: record checksum
  // mismatch") or the file and place ("000004.log: zeroed bytes at byte 0 of 6077").
  std::vector<std::string> lost;
  // The highest sequence number the damaged spool recorded as acknowledged (HIGHWATER), if it
  // could be read, and the highest one the kept records account for.
  std::optional<uint64_t> acknowledged;
  uint64_t highest_kept = 0;
  // Sequence numbers from the sequence floor up to the higher of the two above that no kept
  // record has, as ranges [first, last]: intents lost, or appends that failed (a failed append
  // uses its number). Below the floor, numbers belong to intents applied and removed.
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  // The first sequence number the new spool hands out: above every number the damaged spool
  // ever used, as far as any evidence goes, so none is used twice.
  uint64_t next_sequence = 1;
  bool written = false;  // the new spool was created (not a dry run)
};

// Reads what is left of the spool in `damaged` (its table files and logs, also past damage,
// each record checked by its own checksum; the last write of a key in log order wins, as in
// RocksDB's own recovery) and, unless `dry_run`, writes it into a new spool created in `target`,
// which must not exist yet or be an empty directory. The damaged spool is never written to (its
// files are read from a private copy in $TMPDIR). Refused while another process owns `damaged`
// (it holds RocksDB's lock); while it runs, no other process can open `damaged`.
// Errors: kNotFound (`damaged` does not exist), kNotASpool (`damaged` is not a directory,
// `target` exists and is not an empty directory), kSpoolInUse (another process owns `damaged`),
// kCorruption (`damaged` holds something other than regular files: a FIFO, device, directory or
// link), kIOError (files cannot be read or written),
// those of Spool::Open for the new spool. A spool so damaged that nothing reads is not an
// error: the report says what was lost.
Result<SalvageReport> SalvageSpool(const std::string& damaged, const std::string& target, bool dry_run);

}  // namespace zkspool
