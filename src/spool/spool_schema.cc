#include "spool/spool_schema.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include "spool/counters.h"
#include "spool/meta_codec.h"
#include "spool/record_codec.h"
#include "spool/sequence_key.h"

namespace zkspool {

rocksdb::ColumnFamilyOptions SpoolFamilyOptions(const std::string& name, const rocksdb::ColumnFamilyOptions& base) {
  // One small block cache for every family of every spool in the process: RocksDB's default is
  // one per table factory, and reads of a spool are mostly of what was just written (memtable).
  static const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(2 << 20);
  rocksdb::ColumnFamilyOptions options = base;
  if (name == kMetaFamily) options.merge_operator = CounterMergeOperator();
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Index and filter blocks count against the cache too, so a spool's memory does not grow with
  // the number of its table files.
  table.cache_index_and_filter_blocks = true;
  if (name == kRegisteredFamily) {
    // Recording an outcome asks whether each path is registered already (for the count), and
    // for a fresh registration the answer is no: Bloom filters answer that in the table files
    // and, with whole-key filtering, in the memtable, instead of a search of each.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    options.memtable_prefix_bloom_size_ratio = 0.1;
    options.memtable_whole_key_filtering = true;
  }
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> SpoolFamilies(const rocksdb::ColumnFamilyOptions& base) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kIntentsFamily, kRegisteredFamily, kMetaFamily,
                           kFailedFamily, kExpiryFamily}) {
    families.emplace_back(name, SpoolFamilyOptions(name, base));
  }
  return families;
}

Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(context + ": " + s.ToString());
  return Status::IOError(context + ": " + s.ToString());
}

Result<SpooledIntent> DecodePending(const rocksdb::Slice& key, const rocksdb::Slice& value) {
  std::optional<uint64_t> seq = ParseSequenceKey(key.ToStringView());
  if (!seq) return Status::Corruption("intent key of " + std::to_string(key.size()) + " bytes is not a sequence number");
  Result<SpooledIntent> record = DecodeRecord(value.ToStringView());
  if (!record.ok()) {
    return Status(record.status().code() == StatusCode::kNewerFormat
                      ? Status::NewerFormat("intent " + std::to_string(*seq) + ": " + record.status().message())
                      : Status::Corruption("intent " + std::to_string(*seq) + ": " + record.status().message()));
  }
  if (record->seq != *seq) {
    return Status::Corruption("intent key " + std::to_string(*seq) + " holds the record of seq " +
                              std::to_string(record->seq));
  }
  return record;
}

Result<SpooledIntent> DecodeRegistered(std::string_view path, std::string_view value) {
  Result<SpooledIntent> record = DecodeRecord(value);
  if (!record.ok()) {
    std::string message = "registered node " + std::string(path) + ": " + record.status().message();
    return record.status().code() == StatusCode::kNewerFormat ? Status::NewerFormat(message)
                                                              : Status::Corruption(message);
  }
  return record;
}

Status CheckFormatVersion(std::string_view stored, const std::string& dir) {
  Result<uint64_t> version = DecodeU64(stored, kMetaFormatVersion);
  if (!version.ok()) return version.status();
  if (*version > kSpoolFormatVersion) {
    return Status::NewerFormat("spool " + dir + " has format version " + std::to_string(*version) +
                               "; this build supports up to " + std::to_string(kSpoolFormatVersion));
  }
  return Status::Ok();
}

}  // namespace zkspool
