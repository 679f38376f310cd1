#include "spool/spool_schema.h"

#include "spool/meta_codec.h"
#include "spool/record_codec.h"
#include "spool/sequence_key.h"

namespace zkspool {

std::vector<rocksdb::ColumnFamilyDescriptor> SpoolFamilies(const rocksdb::ColumnFamilyOptions& options) {
  return {
      {rocksdb::kDefaultColumnFamilyName, options},
      {kIntentsFamily, options},
      {kRegisteredFamily, options},
      {kMetaFamily, options},
      {kFailedFamily, options},
  };
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
