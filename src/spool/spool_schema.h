// How a spool is laid out in RocksDB: its column families and the decoding of their records.
// Shared by Spool (the owner) and SpoolReader (a read-only secondary instance), so both read
// exactly the same bytes the same way and report damage with the same messages.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <string>
#include <string_view>
#include <vector>

#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

inline constexpr const char* kIntentsFamily = "intents";
inline constexpr const char* kRegisteredFamily = "registered";
inline constexpr const char* kMetaFamily = "meta";
inline constexpr const char* kFailedFamily = "failed";
inline constexpr const char* kExpiryFamily = "expiry";  // since spool format 2 (expiry_key.h)

// Positions of the families in SpoolFamilies() and so in the handles RocksDB returns.
enum SpoolFamilyIndex : size_t {
  kDefaultIndex = 0,
  kIntentsIndex,
  kRegisteredIndex,
  kMetaIndex,
  kFailedIndex,
  kExpiryIndex,
  kFamilyCount
};

// Every column family of a spool, in SpoolFamilyIndex order, each with `base` plus what the
// family needs to be read at all (the meta family's counter merge operator) or read fast (a
// Bloom filter for the registered set's point lookups of paths that are mostly not there).
std::vector<rocksdb::ColumnFamilyDescriptor> SpoolFamilies(const rocksdb::ColumnFamilyOptions& base);

// The options SpoolFamilies gives the family `name` (base options for a name it does not know).
rocksdb::ColumnFamilyOptions SpoolFamilyOptions(const std::string& name, const rocksdb::ColumnFamilyOptions& base);

// OK, or kCorruption / kIOError prefixed with `context`.
Status FromRocks(const rocksdb::Status& s, const std::string& context);

// A record of the intents family. Errors: kCorruption (bad key or record, or the key and the
// record's seq disagree; the message names the key), kNewerFormat.
Result<SpooledIntent> DecodePending(const rocksdb::Slice& key, const rocksdb::Slice& value);

// A record of the registered family, stored under `path`. Errors: kCorruption (the message
// names the path), kNewerFormat.
Result<SpooledIntent> DecodeRegistered(std::string_view path, std::string_view value);

// The stored format version against this build's. Errors: kNewerFormat naming `dir`,
// kCorruption if the value is malformed.
Status CheckFormatVersion(std::string_view stored, const std::string& dir);

}  // namespace zkspool
