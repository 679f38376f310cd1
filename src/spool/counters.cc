#include "spool/counters.h"

#include "spool/bytes.h"
#include "spool/meta_codec.h"

namespace zkspool {
namespace {

bool AddInto(std::string_view base, std::string_view delta, std::string& out) {
  if (base.size() != delta.size() || base.size() % 8 != 0) return false;
  out.clear();
  ByteReader a(base), b(delta);
  for (uint64_t x, y; a.ReadU64(x) && b.ReadU64(y);) PutFixed(out, x + y, 8);
  return true;
}

class CounterMerge : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    if (existing == nullptr) {
      if (value.size() % 8 != 0) return false;
      new_value->assign(value.data(), value.size());
      return true;
    }
    return AddInto(existing->ToStringView(), value.ToStringView(), *new_value);
  }
  const char* Name() const override { return "zkspool.CounterMerge"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> CounterMergeOperator() {
  static const std::shared_ptr<rocksdb::MergeOperator> op = std::make_shared<CounterMerge>();
  return op;
}

std::string EncodeCounter(std::initializer_list<uint64_t> values) {
  std::string out;
  for (uint64_t v : values) PutFixed(out, v, 8);
  return out;
}

void AddToCounter(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta, std::string_view key,
                  std::initializer_list<int64_t> deltas) {
  bool any = false;
  std::string value;
  for (int64_t d : deltas) {
    any = any || d != 0;
    PutFixed(value, static_cast<uint64_t>(d), 8);
  }
  if (any) batch.Merge(meta, key, value).PermitUncheckedError();
}

Result<std::vector<uint64_t>> DecodeCounter(std::string_view bytes, std::string_view key, size_t width) {
  if (bytes.size() != 8 * width) {
    return Status::Corruption("meta value '" + std::string(key) + "' is not " + std::to_string(width * 8) + " bytes");
  }
  std::vector<uint64_t> values(width);
  ByteReader reader(bytes);
  for (uint64_t& v : values) reader.ReadU64(v);
  return values;
}

size_t CounterWidth(std::string_view key) {
  if (key == kMetaPending) return 2;
  if (key == kMetaRegisteredCount || key == kMetaFailedCount || key == kMetaExpiredCount) return 1;
  return 0;
}

}  // namespace zkspool
