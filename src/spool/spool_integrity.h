// The checks that make damage fail Spool::Open (and SpoolReader::Open) with kCorruption naming
// the file, instead of RocksDB's recovery quietly coming up short. They cover what RocksDB lets
// through in the recovery mode a spool needs:
//
//   - a log (write-ahead log or MANIFEST) with a damaged record followed by valid ones: RocksDB
//     takes zeroed bytes or a bad length at the head for a torn tail and drops the rest
//     (log_scan.h);
//   - a log that ends before HIGHWATER says it was synced, and a recovery that ends below the
//     sequence number HIGHWATER says was acknowledged: a MANIFEST cut in half, a log head
//     zeroed (highwater.h);
//   - a directory that is not exactly a spool's database: another program's RocksDB database,
//     or a spool whose MANIFEST lost one of its column families;
//   - damaged table files: every block's checksum is read at open.
//
// What passes is a torn tail written after the last HIGHWATER rewrite: exactly what a crash
// leaves, and indistinguishable from damage confined to it.
#pragma once

#include <rocksdb/db.h>

#include <optional>
#include <string>
#include <vector>

#include "spool/highwater.h"
#include "zkspool/status.h"

namespace zkspool {

// What the checks before open found that RocksDB's recovery decides on.
struct OpenEvidence {
  std::optional<Highwater> mark;  // none for a new spool or one written before HIGHWATER existed
  std::string torn_tails;         // logs that end in a damaged record, e.g. "000004.log: zeroed bytes at byte 5800"
};

// Before RocksDB opens an existing spool's database (a directory with CURRENT): its column
// families, HIGHWATER, the MANIFEST that CURRENT names and every write-ahead log. Reads only.
// Errors: kNotASpool (not a spool's column families), kCorruption naming the file, kIOError.
Result<OpenEvidence> CheckBeforeOpen(rocksdb::Env& env, const std::string& dir);

// RocksDB's own failure to open, with the damaged log tails that explain a corruption.
Status OpenFailure(const rocksdb::Status& s, const std::string& context, const OpenEvidence& evidence);

// The highest sequence number the opened database accounts for: the last pending or failed
// intent, or the last removed one (below the sequence floor). Errors: kCorruption, kIOError.
Result<uint64_t> RecoveredSequence(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* intents,
                                   rocksdb::ColumnFamilyHandle* meta, rocksdb::ColumnFamilyHandle* failed);

// After RocksDB opened the database: what it recovered reaches what `mark` says was acknowledged.
// Errors: kCorruption naming the write-ahead logs.
Status CheckRecovered(rocksdb::Env& env, const std::string& dir, const OpenEvidence& evidence, uint64_t recovered);

// Opens every live table file of `db` on its own (footer, index, properties), and those that
// `mark` recorded as live and are still on disk; with `every_block` it also reads and checks
// every block. A secondary instance (SpoolReader) that cannot load a table silently falls back
// to an older version of its family: a damaged table of the meta family read as "no format
// version, no session". A file the live owner removed meanwhile is skipped.
// Errors: kCorruption naming the file.
Status CheckTableFiles(rocksdb::DB& db, const std::string& dir, const std::optional<Highwater>& mark, bool every_block);

// The evidence as of now for an open database: `acknowledged` and RocksDB's MANIFEST with its
// synced size. Errors: kIOError.
Result<Highwater> CurrentHighwater(rocksdb::DB& db, uint64_t acknowledged);

}  // namespace zkspool
